"""Decoding, downmixing and resampling: the one place where audio enters singerid."""

from __future__ import annotations

import math
import re
import subprocess
from math import gcd
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import SongError

# Extensions treated as audio when walking a corpus (compared in lower case).
AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".flac", ".wav", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff"}
)


NO_SAMPLES = "decodes to no audio samples"
# In the message of a song refused for its length (the page words those apart).
TOO_LONG = "over the length limit"
# A header's length and the decoded one differ by a frame or so: a song is over a limit
# when it is over by more than this, and decoding under a limit reads twice this past it.
LIMIT_TOLERANCE_S = 0.5


class AudioDecodeError(SongError):
    """A file that cannot be decoded; the message names the file and the problem."""


def is_audio_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def decode(path: str | Path, sampling_rate: int | None = None, channels: int = 1,
           max_duration_minutes: float | None = None) -> np.ndarray:
    """Decode any file ffmpeg reads into float32 `[channels, samples]`.

    ffmpeg (through torchcodec) downmixes or upmixes to `channels` and resamples to
    `sampling_rate` (None keeps the file's own rate) while decoding.

    `max_duration_minutes` refuses a longer song (`AudioDecodeError`, `TOO_LONG`): before
    decoding when its header gives its length, else once decoding passes the limit, where
    decoding stops, so a header that says nothing (or lies) costs no more than the limit.
    """
    path = Path(path)
    return _decode_opened(path, _opened(path, sampling_rate, channels, max_duration_minutes), sampling_rate,
                          channels, max_duration_minutes)


def _decode_opened(path: Path, decoder, sampling_rate: int | None, channels: int,
                   max_duration_minutes: float | None) -> np.ndarray:
    """`decode`, with the decoder `_opened` gave."""
    header_s = decoder.metadata.duration_seconds
    limit_s = None if max_duration_minutes is None else max_duration_minutes * 60
    stop_s = None if limit_s is None else limit_s + 2 * LIMIT_TOLERANCE_S
    try:
        wav = decoder.get_samples_played_in_range(0.0, stop_s).data.numpy()
    except Exception as error:
        if "No audio frames were decoded" in str(error):  # a header and nothing after it
            raise AudioDecodeError(path, NO_SAMPLES) from None
        # A damaged stream (a truncated download): keep what ffmpeg can decode of it.
        wav = _decode_tolerantly(path, sampling_rate or decoder.metadata.sample_rate, channels, stop_s)
        if wav.shape[-1] == 0:
            raise AudioDecodeError(path, f"not decodable: {_first_line(error)}") from None
    native = decoder.metadata.sample_rate
    if wav.shape[-1] == 0 and sampling_rate not in (None, native):
        # ffmpeg's resampler gives nothing back for a few samples: resample those here.
        wav = resample(decode(path, None, channels, max_duration_minutes), native, sampling_rate)
    if wav.shape[-1] == 0:
        raise AudioDecodeError(path, NO_SAMPLES)
    if limit_s is not None and wav.shape[-1] / (sampling_rate or native) > limit_s + LIMIT_TOLERANCE_S:
        raise _decoded_past_the_limit(path, max_duration_minutes, header_s)
    return wav.astype(np.float32, copy=False)


def decode_windows(path: str | Path, sampling_rate: int, channels: int = 1, window_seconds: float = 60.0,
                   max_duration_minutes: float | None = None) -> Iterator[np.ndarray]:
    """`decode`'s samples in consecutive `[channels, samples]` windows of `window_seconds`
    (the last one shorter), never more of the song in memory than a window.

    A song whose header says it fits in one window is decoded by `decode`, as one window.
    A longer one streams out of one ffmpeg process, whose resampler runs through the whole
    song as torchcodec's does, so the windows join into `decode`'s samples exactly; ffmpeg
    skips a damaged packet and goes on, as `decode` does when torchcodec stops at one.
    """
    path = Path(path)
    decoder = _opened(path, sampling_rate, channels, max_duration_minutes)
    header_s = decoder.metadata.duration_seconds
    if header_s is not None and header_s <= window_seconds:
        yield _decode_opened(path, decoder, sampling_rate, channels, max_duration_minutes)
        return
    limit_s = None if max_duration_minutes is None else max_duration_minutes * 60
    window = max(1, round(window_seconds * sampling_rate)) * channels * 4  # bytes of float32 samples
    stop_s = None if limit_s is None else limit_s + 2 * LIMIT_TOLERANCE_S
    command = _ffmpeg_command(path, sampling_rate, channels, stop_s)
    decoded = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as ffmpeg:
        try:
            while block := ffmpeg.stdout.read(window):
                usable = len(block) // (4 * channels) * (4 * channels)
                wav = np.ascontiguousarray(np.frombuffer(block[:usable], dtype="<f4").reshape(-1, channels).T)
                decoded += wav.shape[-1]
                if limit_s is not None and decoded / sampling_rate > limit_s + LIMIT_TOLERANCE_S:
                    raise _decoded_past_the_limit(path, max_duration_minutes, header_s)
                yield wav
        finally:
            ffmpeg.kill()
    if not decoded:
        raise AudioDecodeError(path, NO_SAMPLES)


def _opened(path: Path, sampling_rate: int | None, channels: int, max_duration_minutes: float | None):
    """torchcodec's decoder of the song, nothing decoded yet, after the checks made before
    decoding: a file that exists, is not empty, opens, and is not over
    `max_duration_minutes` by its header."""
    from torchcodec.decoders import AudioDecoder

    if not path.is_file():
        raise AudioDecodeError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(path, "empty file (0 bytes)")
    try:
        decoder = AudioDecoder(ffmpeg_path(path), sample_rate=sampling_rate, num_channels=channels)
    except Exception as error:  # torchcodec raises RuntimeError/ValueError with ffmpeg's words
        raise AudioDecodeError(path, f"not decodable: {_first_line(error)}") from None
    header_s = decoder.metadata.duration_seconds  # from the header
    limit_s = None if max_duration_minutes is None else max_duration_minutes * 60
    if limit_s is not None and header_s is not None and header_s > limit_s + LIMIT_TOLERANCE_S:
        raise AudioDecodeError(path, f"{_minutes(header_s, limit_s)} minutes long: {TOO_LONG} of "
                                     f"{max_duration_minutes:g} minutes")
    return decoder


def _decoded_past_the_limit(path: Path, max_duration_minutes: float, header_s: float | None) -> AudioDecodeError:
    said = "gives no length" if header_s is None else f"says {header_s / 60:.1f} minutes"
    return AudioDecodeError(path, f"{TOO_LONG} of {max_duration_minutes:g} minutes (decoded up to the limit; "
                                  f"its header {said})")


def ffmpeg_path(path: str | Path) -> str:
    """`path` as ffmpeg must get it: absolute, so a file named like a protocol
    (`pipe:0.wav`, `http:x.mp3`) is read as the file, never as stdin or a URL."""
    return str(Path(path).absolute())


def _decode_tolerantly(path: Path, sampling_rate: int, channels: int, stop_s: float | None = None) -> np.ndarray:
    """ffmpeg's own command line, which skips bad packets instead of stopping (and stops
    at `stop_s` seconds when given)."""
    output = subprocess.run(_ffmpeg_command(path, sampling_rate, channels, stop_s), capture_output=True).stdout
    usable = len(output) // (4 * channels) * (4 * channels)
    return np.frombuffer(output[:usable], dtype="<f4").reshape(-1, channels).T


def _ffmpeg_command(path: Path, sampling_rate: int, channels: int, stop_s: float | None) -> list[str]:
    """ffmpeg decoding to float32 samples on stdout, skipping bad packets (and stopping at `stop_s`)."""
    return ["ffmpeg", "-nostdin", "-v", "quiet", "-err_detect", "ignore_err", "-i", ffmpeg_path(path), "-vn",
            "-ac", str(channels), "-ar", str(sampling_rate), *(["-t", str(stop_s)] if stop_s else []),
            "-f", "f32le", "pipe:1"]


def downmix(wav: np.ndarray) -> np.ndarray:
    """Average channels of `[channels, samples]` into mono `[samples]`."""
    return wav.mean(axis=0) if wav.ndim == 2 else wav


def resample(wav: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling along the last axis."""
    if orig_rate == target_rate:
        return wav
    from scipy.signal import resample_poly

    divisor = gcd(orig_rate, target_rate)
    out = resample_poly(wav, target_rate // divisor, orig_rate // divisor, axis=-1)
    return out.astype(np.float32, copy=False)


def resample_windows(windows: Iterable[np.ndarray], orig_rate: int, target_rate: int) -> Iterator[np.ndarray]:
    """`resample` of the 1-D signal that `windows` join into, window by window. Each block
    is resampled with enough of its neighbours on both sides for the filter, its edges on
    the polyphase grid, so its samples are the whole signal's (`resample_poly` computes
    each output sample from the same inputs in the same order)."""
    if orig_rate == target_rate:
        yield from windows
        return
    from scipy.signal import resample_poly

    divisor = gcd(orig_rate, target_rate)
    up, down = target_rate // divisor, orig_rate // divisor
    # The filter spans 20 × max(up, down) upsampled samples (scipy's default), plus padding.
    margin = down * (math.ceil((20 * max(up, down) + 2 * down) / up / down) + 1)
    # buffer[0] is input sample `start`; the outputs of inputs before `done` are given out
    buffer, start, done = np.zeros(0, dtype=np.float32), 0, 0

    def block(end: int, last: bool) -> np.ndarray:
        """Outputs of inputs `done` to `end - margin` (to the end when `last`)."""
        low = max(0, done - margin)
        out = resample_poly(buffer[low - start : end - start], up, down).astype(np.float32, copy=False)
        return out[(done - low) * up // down : None if last else (end - margin - low) * up // down]

    for window in windows:
        buffer = np.concatenate([buffer, window])
        ready = (start + len(buffer) - margin - done) // down * down  # inputs whose outputs are fixed
        if ready > 0:
            yield block(done + ready + margin, last=False)
            done += ready
            buffer, start = buffer[max(0, done - margin) - start :], max(0, done - margin)
    if start + len(buffer) > done:
        yield block(start + len(buffer), last=True)


def zero_non_finite(wav: np.ndarray) -> tuple[np.ndarray, int]:
    """`wav` with NaN and ±Inf samples set to 0, and how many there were."""
    bad = ~np.isfinite(wav)
    count = int(bad.sum())
    return (np.where(bad, np.float32(0), wav) if count else wav), count


def load_mono(path: str | Path, sampling_rate: int) -> np.ndarray:
    """Mono float32 samples at `sampling_rate`."""
    return decode(path, sampling_rate=sampling_rate, channels=1)[0]


def decode_bytes(data: bytes, sampling_rate: int) -> np.ndarray:
    """Mono float32 samples at `sampling_rate` of an encoded file held in memory.

    The data loader's decoder: libsndfile reads the WAV segments preprocessing stores
    about 30× faster than ffmpeg through torchcodec (benchmarks/data_loading.py). Other
    formats (a Hub dataset's MP3s) and other rates go through ffmpeg, whose resampler
    prediction uses too.
    """
    import io

    import soundfile as sf

    try:
        wav, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        if rate == sampling_rate:
            return downmix(wav.T)
    except sf.LibsndfileError:
        pass
    from torchcodec.decoders import AudioDecoder

    return AudioDecoder(data, sample_rate=sampling_rate, num_channels=1).get_all_samples().data.numpy()[0]


def _minutes(seconds: float, limit_s: float) -> str:
    """`seconds` in minutes, to a tenth, or to a hundredth where a tenth reads as the limit."""
    text = f"{seconds / 60:.1f}"
    return text if float(text) * 60 > limit_s else f"{seconds / 60:.2f}"


def _first_line(error: Exception) -> str:
    text = (str(error).strip() or type(error).__name__).splitlines()[0]
    if "Could not open input file" in text:
        return "ffmpeg cannot read it as audio"
    # Drop torchcodec's C++ source location ("Decoder, /path/x.cpp:52, message").
    return re.sub(r"^\w+, \S+\.cpp:\d+, ", "", text)[:300]
