"""A synthetic, artist20-shaped corpus of songs, made on the spot.

Every singer is a source-filter voice of their own (glottal pulse shape, spectral tilt,
breathiness, formants, vibrato, register) that sings random melodies on syllables over a
small band (pad, bass, drums).  The songs themselves (duration, key, tempo, chords,
arrangement, vocal level) are drawn from a random stream that knows the album and song
number but not the singer: every artist sings over the same backing tracks (album k, song j
is the same track for all), so only the voice and its melodies tell the artists apart.

Layout, as artist20 (plus ground truth under ``_stems``, which song scanners must skip)::

    out_dir/<artist>/<album>/<NN-title>.flac
    out_dir/_stems/<artist>/<album>/<NN-title>/vocals.flac   isolated voice, as in the mix
    out_dir/_stems/<artist>/<album>/<NN-title>/spans.json    where the voice sings

Everything is numpy/scipy and deterministic: the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter
from tqdm import tqdm

STEMS_DIR = "_stems"
MIN_SECONDS = 3.0  # below this an intro, a break, two sung sections and an outro do not fit
MIN_SAMPLING_RATE = 8000
MAX_CHANNELS = 8

ARTIST_NAMES = (
    "aurora_vale", "benny_marsh", "clara_dune", "dexter_holt", "elena_frost",
    "felix_crane", "greta_lund", "hugo_west", "iris_moreau", "jonas_reed",
    "kira_solis", "leo_brandt", "maya_quinn", "nico_falk", "olive_hart",
    "pablo_serra", "quinn_avery", "rosa_linden", "sami_okoye", "tara_bell",
    "ulrich_stone", "vera_nakamura", "wes_calloway", "yara_melo",
)
ALBUM_TITLES = (
    "first_light", "paper_moon", "salt_and_honey", "northern_lines", "glass_harbor",
    "quiet_engines", "city_of_echoes", "wild_orchard", "blue_hour", "river_songs",
    "midnight_radio", "open_roads", "silver_rain", "the_long_winter", "golden_static",
    "small_hours", "ember", "tidal", "kites", "lanterns", "parallel_lives", "wildflowers",
    "neon_prayers", "old_maps", "second_sun", "hollow_hills", "after_the_storm",
    "slow_fire", "copper_sky", "home_again",
)
TITLE_WORDS = (
    "love", "rain", "fire", "heart", "night", "dream", "river", "light", "shadow", "home",
    "summer", "winter", "stars", "ocean", "road", "city", "dance", "song", "gold", "blue",
    "wind", "morning", "sky", "stone", "forever", "tonight", "hello", "goodbye", "angel",
    "mirror", "garden", "storm", "echo", "silence", "paradise", "wings", "velvet", "ghost",
)

# Random streams: each kind of draw has its own tag, so adding draws of one kind never
# shifts another, and a song's draws depend only on its own indices.
_VOICE, _ALBUMS, _SONG, _MELODY, _TITLE, _NOISE = range(6)

# Voice types in an order that alternates high and low, so neighbouring singer indices
# are far apart: (register centre as MIDI note, vocal-tract scale of the formants).
_VOICE_TYPES = (
    (67, 1.18),  # soprano
    (48, 0.97),  # baritone
    (57, 1.12),  # alto
    (43, 0.92),  # bass
    (62, 1.15),  # mezzo
    (53, 1.02),  # tenor
)
# Formants F1..F5 (Hz) of five sung vowels for a neutral adult tract.
_VOWELS = np.array([
    [730, 1090, 2440, 3400, 4500],  # a
    [530, 1840, 2480, 3500, 4500],  # e
    [270, 2290, 3010, 3700, 4600],  # i
    [570, 840, 2410, 3400, 4500],   # o
    [300, 870, 2240, 3400, 4500],   # u
], dtype=float)
_BANDWIDTHS = np.array([70.0, 90.0, 130.0, 180.0, 220.0])
# Noise consonants: (centre Hz, bandwidth Hz, duration s) of a fricative or burst.
_CONSONANTS = (
    (6500.0, 2500.0, 0.07),  # s
    (3200.0, 1500.0, 0.08),  # sh
    (5000.0, 4000.0, 0.06),  # f
    (4000.0, 2000.0, 0.02),  # t
    (2200.0, 800.0, 0.03),   # k
)
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# Chord progressions as scale degrees (0 = tonic), one chord per bar.
_PROGRESSIONS = ((0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 4, 3), (0, 5, 3, 4), (0, 6, 5, 4))
# Bass onsets per bar on an eighth-note grid (0..7).
_BASS_PATTERNS = ((0, 4), (0, 2, 4, 6), (0, 3, 4, 6), (0, 3, 6), (0, 1, 4, 5))
# Kick onsets per bar on a sixteenth grid (0..15); snare is on beats 2 and 4.
_KICK_PATTERNS = ((0, 8), (0, 6, 8), (0, 8, 10), (0, 3, 8, 11))
_VOCAL_TAIL_S = 0.05  # formant ringing after a note; spans include it
_PEAK = 0.9


@dataclass(frozen=True)
class Voice:
    """What makes one singer sound like themselves, fixed across their albums."""

    register: float          # MIDI note at the centre of the sung range
    tract: float             # vocal-tract scale: formants and consonants move up with it
    range_semitones: float   # half-width of the sung range
    formants: np.ndarray     # (5 vowels, 5 formants) in Hz
    bandwidths: np.ndarray   # (5,) formant bandwidths in Hz
    open_quotient: float     # open fraction of a glottal period
    rise_fraction: float     # opening part of the open phase (pulse skew)
    tilt: float              # one-pole low-pass coefficient: higher = darker voice
    breathiness: float       # aspiration noise level relative to the voiced source
    vibrato_rate: float      # Hz
    vibrato_depth: float     # cents
    vibrato_delay: float     # seconds into a note before vibrato sets in
    glide: float             # portamento time constant, seconds


@dataclass(frozen=True)
class SongPlan:
    """A backing track and its arrangement; it knows nothing about the singer."""

    duration: float
    tonic: int               # MIDI pitch class 0..11
    scale: tuple[int, ...]
    bpm: float
    progression: tuple[int, ...]
    bass_pattern: tuple[int, ...]
    kick_pattern: tuple[int, ...]
    phrases: list[tuple[float, float]]  # windows (start, end) in seconds where the voice may sing
    vocal_db: float          # vocal level relative to the accompaniment
    pans: dict[str, float]


@dataclass(frozen=True)
class Note:
    """One sung syllable."""

    start: float       # seconds, relative to the phrase
    end: float
    midi: float
    vowel: int
    consonant: int | None


# ----------------------------------------------------------------------------- names


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def album_names(seed: int, singer: int, albums: int) -> list[str]:
    """``<year>_<title>`` names; years strictly increase, so names sort chronologically."""
    rng = _rng(seed, _ALBUMS, singer)
    count = max(albums, len(ALBUM_TITLES))
    order = rng.permutation(count) % len(ALBUM_TITLES)
    years = rng.integers(1980, 2000) + np.cumsum(rng.integers(1, 4, size=count))
    names = []
    for k in range(albums):
        title = ALBUM_TITLES[order[k]]
        names.append(f"{years[k]}_{title}")
    return names


def song_title(seed: int, singer: int, album: int, song: int) -> str:
    rng = _rng(seed, _TITLE, singer, album, song)
    words = rng.choice(TITLE_WORDS, size=rng.integers(1, 3), replace=False)
    return "_".join(words)


# ----------------------------------------------------------------------------- plans


def singer_voice(seed: int, singer: int) -> Voice:
    """Draw one singer's voice; it depends on (seed, singer) only."""
    rng = _rng(seed, _VOICE, singer)
    centre, tract = _VOICE_TYPES[singer % len(_VOICE_TYPES)]
    tract *= rng.uniform(0.95, 1.05)
    register = centre + rng.uniform(-1.0, 1.0)
    # A personal twist per formant, the same for every vowel: timbre, not accent.
    formants = _VOWELS * tract * rng.uniform(0.94, 1.06, size=_VOWELS.shape[1])
    return Voice(
        register=register,
        tract=tract,
        range_semitones=rng.uniform(5.0, 8.0),
        formants=formants,
        bandwidths=_BANDWIDTHS * rng.uniform(0.8, 1.5),
        open_quotient=rng.uniform(0.45, 0.8),
        rise_fraction=rng.uniform(0.55, 0.8),
        tilt=rng.uniform(0.1, 0.75),
        breathiness=rng.uniform(0.02, 0.3),
        vibrato_rate=rng.uniform(4.5, 6.8),
        vibrato_depth=rng.uniform(15.0, 80.0),
        vibrato_delay=rng.uniform(0.08, 0.4),
        glide=rng.uniform(0.015, 0.07),
    )


def plan_song(seed: int, album: int, song: int, seconds: float) -> SongPlan:
    """Draw a backing track and its arrangement; independent of the singer."""
    rng = _rng(seed, _SONG, album, song)
    duration = rng.uniform(0.8, 1.2) * seconds
    return SongPlan(
        duration=duration,
        tonic=int(rng.integers(12)),
        scale=_MAJOR if rng.random() < 0.5 else _MINOR,
        bpm=rng.uniform(72.0, 140.0),
        progression=_PROGRESSIONS[rng.integers(len(_PROGRESSIONS))],
        bass_pattern=_BASS_PATTERNS[rng.integers(len(_BASS_PATTERNS))],
        kick_pattern=_KICK_PATTERNS[rng.integers(len(_KICK_PATTERNS))],
        phrases=_plan_phrases(rng, duration),
        vocal_db=rng.uniform(-6.0, 6.0),
        pans={
            "pad": rng.uniform(0.3, 0.7),  # spread of the three pad voices
            "bass": rng.uniform(-0.1, 0.1),
            "snare": rng.uniform(-0.15, 0.15),
            "hat": rng.choice([-1, 1]) * rng.uniform(0.3, 0.6),
        },
    )


def _plan_phrases(rng: np.random.Generator, duration: float) -> list[tuple[float, float]]:
    """Intro, sung sections separated by one or two breaks, outro; phrases inside sections."""
    intro = max(0.3, rng.uniform(0.08, 0.15) * duration)
    outro = max(0.3, rng.uniform(0.06, 0.12) * duration)
    breaks = [max(0.4, rng.uniform(0.05, 0.1) * duration) for _ in range(rng.integers(1, 3))]
    sung = duration - intro - outro - sum(breaks)
    weights = rng.uniform(0.7, 1.3, size=len(breaks) + 1)
    sections = sung * weights / weights.sum()

    phrases = []
    start = intro
    for k, length in enumerate(sections):
        phrases += _split_section(rng, start, start + length)
        start += length + (breaks[k] if k < len(breaks) else 0.0)
    return phrases


def _split_section(rng: np.random.Generator, start: float, end: float) -> list[tuple[float, float]]:
    """Cut a sung section into phrases of 1.5-4 s with breaths of 0.4-0.8 s between them."""
    phrases = []
    while True:
        length = rng.uniform(1.5, 4.0)
        if end - (start + length) < 1.4:  # too little left for a breath and another phrase
            phrases.append((start, end))
            return phrases
        phrases.append((start, start + length))
        start += length + rng.uniform(0.4, 0.8)


def plan_melody(rng: np.random.Generator, plan: SongPlan, voice: Voice,
                window: tuple[float, float]) -> list[Note]:
    """Syllables on the song's scale inside the singer's range, filling one phrase window."""
    beat = 60.0 / plan.bpm
    low, high = voice.register - voice.range_semitones, voice.register + voice.range_semitones
    pitches = [m for m in range(int(low), int(high) + 1) if (m - plan.tonic) % 12 in plan.scale]
    position = int(np.argmin([abs(m - voice.register) for m in pitches]))

    notes = []
    t, length = 0.0, window[1] - window[0]
    while length - t > 0.15:
        duration = min(beat * rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]), length - t)
        consonant = None if rng.random() < 0.3 else int(rng.integers(len(_CONSONANTS)))
        # A mostly stepwise walk through the scale, held inside the singer's range.
        position = int(np.clip(position + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(pitches) - 1))
        notes.append(Note(
            start=t,
            end=t + duration,
            midi=pitches[position] + rng.normal(0.0, 0.08),  # imperfect intonation
            vowel=int(rng.integers(len(_VOWELS))),
            consonant=consonant,
        ))
        legato = rng.random() < 0.5
        t += duration + (0.0 if legato else rng.uniform(0.03, 0.15))
    return notes


# ----------------------------------------------------------------------------- voice


def _resonator(signal: np.ndarray, freq: float, bandwidth: float, sr: int) -> np.ndarray:
    """Two-pole resonator with unit gain at DC (a Klatt-style formant)."""
    r = math.exp(-math.pi * bandwidth / sr)
    a = [1.0, -2.0 * r * math.cos(2.0 * math.pi * freq / sr), r * r]
    return lfilter([sum(a)], a, signal)


def _rosenberg(phase: np.ndarray, open_quotient: float, rise_fraction: float) -> np.ndarray:
    """Glottal flow over one period (phase in [0, 1)): cosine rise, cosine fall, closed."""
    rise = open_quotient * rise_fraction
    fall = open_quotient - rise
    flow = np.where(phase < rise, 0.5 * (1.0 - np.cos(np.pi * phase / rise)), 0.0)
    falling = (phase >= rise) & (phase < open_quotient)
    return np.where(falling, np.cos(0.5 * np.pi * (phase - rise) / fall), flow)


def _pitch_contour(notes: list[Note], voice: Voice, n: int, sr: int) -> np.ndarray:
    """f0 in Hz per sample: note pitches with portamento and delayed vibrato."""
    starts = np.array([round(note.start * sr) for note in notes])
    index = np.searchsorted(starts, np.arange(n), side="right") - 1
    midi = np.array([note.midi for note in notes])[index]
    alpha = math.exp(-1.0 / (voice.glide * sr))
    midi = lfilter([1.0 - alpha], [1.0, -alpha], midi, zi=[alpha * midi[0]])[0]

    since_onset = (np.arange(n) - starts[index]) / sr
    ramp = np.clip((since_onset - voice.vibrato_delay) / 0.25, 0.0, 1.0)
    t = np.arange(n) / sr
    cents = voice.vibrato_depth * ramp * np.sin(2.0 * np.pi * voice.vibrato_rate * t)
    return 440.0 * 2.0 ** ((midi + cents / 100.0 - 69.0) / 12.0)


def _glottal_source(f0: np.ndarray, voice: Voice, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Differentiated glottal flow, tilted, plus aspiration noise pulsed with the flow."""
    phase = np.cumsum(f0 / sr) % 1.0
    flow = _rosenberg(phase, voice.open_quotient, voice.rise_fraction)
    source = np.diff(flow, prepend=0.0)  # lip radiation ~ derivative
    source = lfilter([1.0 - voice.tilt], [1.0, -voice.tilt], source)
    source /= np.std(source) + 1e-12
    noise = rng.standard_normal(len(f0)) * (0.4 + flow)
    return source + voice.breathiness * noise


def _envelope(n: int, sr: int, on: float, off: float, attack: float, release: float) -> np.ndarray:
    """Piecewise-linear gain: 0 before ``on``, 1 in between, 0 after ``off``."""
    off = max(off, on + attack + release)
    points = [0.0, on, on + attack, off - release, off]
    return np.interp(np.arange(n) / sr, points, [0.0, 0.0, 1.0, 1.0, 0.0], right=0.0)


def _sing_note(source: np.ndarray, note: Note, voice: Voice, rng: np.random.Generator,
               sr: int) -> tuple[int, np.ndarray]:
    """One syllable: optional noise consonant, then the vowel through its formants."""
    first = round(note.start * sr)
    n = round((note.end - note.start + _VOCAL_TAIL_S) * sr)
    length = note.end - note.start
    consonant_s = 0.0
    syllable = np.zeros(n)
    if note.consonant is not None:
        centre, bandwidth, consonant_s = _CONSONANTS[note.consonant]
        consonant_s = min(consonant_s, 0.4 * length)
        centre = min(centre * voice.tract, 0.45 * sr)
        noise = _resonator(rng.standard_normal(n), centre, bandwidth, sr)
        noise *= _envelope(n, sr, 0.0, consonant_s, 0.005, consonant_s * 0.5)
        syllable += 0.3 * noise / (np.std(noise) + 1e-12)

    vowel = source[first:first + n] * _envelope(n, sr, consonant_s * 0.6, length, 0.03, 0.04)
    for freq, bandwidth in zip(voice.formants[note.vowel], voice.bandwidths):
        if freq < 0.45 * sr:
            vowel = _resonator(vowel, freq, bandwidth, sr)
    return first, syllable + vowel


def sing_phrase(notes: list[Note], voice: Voice, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Render a phrase (note times relative to its start), including the last note's ringing."""
    n = round((notes[-1].end + _VOCAL_TAIL_S) * sr) + 1
    source = _glottal_source(_pitch_contour(notes, voice, n, sr), voice, rng, sr)
    out = np.zeros(n)
    for note in notes:
        first, syllable = _sing_note(source, note, voice, rng, sr)
        out[first:first + len(syllable)] += syllable
    return out


def sing_song(plan: SongPlan, voice: Voice, rng: np.random.Generator, n: int,
              sr: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The mono vocal track of a song and the sample spans that hold each phrase."""
    vocal = np.zeros(n)
    spans = []
    for window in plan.phrases:
        notes = plan_melody(rng, plan, voice, window)
        if not notes:
            continue
        phrase = sing_phrase(notes, voice, rng, sr)
        first = round(window[0] * sr)
        last = min(first + len(phrase), n)
        vocal[first:last] += phrase[:last - first]
        spans.append((first, last))
    return vocal, spans


# ----------------------------------------------------------------------------- band


def _wavetable(harmonics: int, power: float, size: int = 4096) -> np.ndarray:
    """One period of a band-limited, saw-like wave with harmonic amplitudes 1/k**power."""
    phase = np.arange(size) / size
    k = np.arange(1, harmonics + 1)[:, None]
    return (np.sin(2.0 * np.pi * k * phase) / k**power).sum(axis=0)


def _oscillator(freq: np.ndarray, table: np.ndarray, sr: int) -> np.ndarray:
    """Wavetable lookup; the phase is a 32-bit fixed-point accumulator (fast and exact)."""
    step = np.round(freq * (2.0**32 / sr)).astype(np.uint64)
    phase = np.cumsum(step) & np.uint64(0xFFFFFFFF)
    return table[phase >> np.uint64(32 - int(math.log2(len(table))))]


def _midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def _chords(plan: SongPlan) -> np.ndarray:
    """Triads of the progression as MIDI notes, (chords, 3), folded into one octave."""
    chords = []
    for degree in plan.progression:
        notes = [plan.scale[(degree + step) % 7] + 12 * ((degree + step) // 7) for step in (0, 2, 4)]
        chords.append([55 + (plan.tonic + m - 55) % 12 for m in notes])
    return np.array(chords, dtype=float)


def _onset_envelope(onsets: np.ndarray, n: int, sr: int, decay: float) -> tuple[np.ndarray, np.ndarray]:
    """For sorted onsets (samples): index of the sounding onset and a pluck envelope."""
    samples = np.arange(n)
    index = np.clip(np.searchsorted(onsets, samples, side="right") - 1, 0, None)
    since = (samples - onsets[index]) / sr
    until_next = (np.append(onsets, n + sr)[index + 1] - samples) / sr
    envelope = np.exp(-since / decay) * np.clip(since / 0.005, 0, 1) * np.clip(until_next / 0.01, 0, 1)
    return index, np.where(samples < onsets[0], 0.0, envelope)


def _pan_gains(pan: float) -> tuple[float, float]:
    """Balance pan (-1 left .. 1 right); a centred part keeps full level in both channels."""
    return min(1.0, 1.0 - pan), min(1.0, 1.0 + pan)


Part = tuple[np.ndarray, float]  # a mono track and its pan


def _pad(plan: SongPlan, bar: int, sr: int) -> list[Part]:
    """One loop of sustained triads, a chord per bar, its three notes spread left to right."""
    samples = np.arange(bar * len(plan.progression))
    chord_index = samples // bar
    in_bar = (samples % bar) / sr
    # Re-articulate each chord so phase jumps at chord changes stay inaudible.
    envelope = 0.12 * np.clip(in_bar / 0.08, 0, 1) * np.clip((bar / sr - in_bar) / 0.05, 0, 1)
    table = _wavetable(8, 1.5)
    chord_hz = _midi_to_hz(_chords(plan))
    spread = plan.pans["pad"]
    return [(envelope * _oscillator(chord_hz[chord_index, voice], table, sr), pan)
            for voice, pan in enumerate((-spread, 0.0, spread))]


def _bass(plan: SongPlan, bar: int, sr: int) -> list[Part]:
    """One loop of plucked chord roots on the song's eighth-note pattern."""
    steps = [(b, k) for b in range(len(plan.progression)) for k in plan.bass_pattern]
    onsets = np.array([b * bar + round(k * bar / 8) for b, k in steps])
    roots = _midi_to_hz([36 + (plan.tonic + plan.scale[d]) % 12 for d in plan.progression])
    onset_hz = roots[[b for b, _ in steps]]
    index, envelope = _onset_envelope(onsets, bar * len(plan.progression), sr, decay=0.35)
    tone = _oscillator(onset_hz[index], _wavetable(6, 1.0), sr)
    return [(0.35 * envelope * tone, plan.pans["bass"])]


def _drum_sounds(rng: np.random.Generator, sr: int) -> dict[str, np.ndarray]:
    """One kick, snare and hi-hat per song."""
    t = np.arange(round(0.35 * sr)) / sr
    kick_freq = 45.0 + 110.0 * np.exp(-t / 0.04)
    kick = np.sin(2.0 * np.pi * np.cumsum(kick_freq) / sr) * np.exp(-t / 0.12)
    t = t[: round(0.2 * sr)]
    snare_noise = np.diff(rng.standard_normal(len(t) + 1))
    snare = (0.5 * snare_noise + np.sin(2.0 * np.pi * 190.0 * t)) * np.exp(-t / 0.05)
    t = t[: round(0.08 * sr)]
    hat = np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t / 0.015)
    return {"kick": 0.6 * kick, "snare": 0.3 * snare, "hat": 0.08 * hat}


def _drums(plan: SongPlan, rng: np.random.Generator, n: int, sr: int) -> list[Part]:
    """Kick on the song's pattern, snare on 2 and 4, hi-hat on eighths, with varied velocity."""
    sixteenth = 60.0 / plan.bpm / 4
    hits = {"kick": plan.kick_pattern, "snare": (4, 12), "hat": tuple(range(0, 16, 2))}
    pans = {"kick": 0.0, "snare": plan.pans["snare"], "hat": plan.pans["hat"]}
    sounds = _drum_sounds(rng, sr)
    bars = int(plan.duration / (16 * sixteenth)) + 1
    parts = []
    for name, pattern in hits.items():
        track = np.zeros(n)
        sound = sounds[name]
        for step in (16 * b + k for b in range(bars) for k in pattern):
            first = round(step * sixteenth * sr)
            if first >= n:
                continue
            last = min(first + len(sound), n)
            track[first:last] += rng.uniform(0.7, 1.0) * sound[: last - first]
        parts.append((track, pans[name]))
    return parts


def play_band(plan: SongPlan, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Stereo accompaniment (n, 2), faded in and out at the song's edges."""
    bar = round(4 * 60.0 / plan.bpm * sr)
    loop = _pad(plan, bar, sr) + _bass(plan, bar, sr)  # the same chords every few bars
    left, right = np.zeros(n), np.zeros(n)
    for track, pan in loop + _drums(plan, rng, n, sr):
        track = np.resize(track, n)  # repeats a loop to the song's length
        gain_left, gain_right = _pan_gains(pan)
        left += gain_left * track
        right += gain_right * track
    fade = _envelope(n, sr, 0.0, n / sr, 0.02, min(1.5, 0.1 * plan.duration))
    return np.stack([left * fade, right * fade], axis=1)


# ----------------------------------------------------------------------------- mixing


def _to_channels(stereo: np.ndarray, channels: int) -> np.ndarray:
    """Stereo (n, 2) to mono (n,) or to ``channels`` > 2 whose extras carry the mid signal."""
    if channels == 1:
        return stereo.mean(axis=1)
    if channels == 2:
        return stereo
    extra = np.repeat(stereo.mean(axis=1, keepdims=True), channels - 2, axis=1)
    return np.concatenate([stereo, extra], axis=1)


def mix_song(band: np.ndarray, vocal: np.ndarray, spans: list[tuple[int, int]], vocal_db: float,
             channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Set the vocal level against the band, centre it, and scale both to a 0.9 peak.

    The level is measured where the voice sings, so quiet or long breaks do not change it;
    the stem gets the very gain it has in the mix, so ``mix - stem`` is the band.
    """
    sung = np.concatenate([vocal[a:b] for a, b in spans]) if spans else vocal
    vocal_rms = np.sqrt(np.mean(sung**2)) + 1e-12
    band_rms = np.sqrt(np.mean(band**2)) + 1e-12
    vocal = vocal * band_rms * 10.0 ** (vocal_db / 20.0) / vocal_rms

    stem = _to_channels(np.stack([vocal, vocal], axis=1), channels)  # centred
    mix = _to_channels(band, channels) + stem
    scale = _PEAK / np.max(np.abs(mix))
    return mix * scale, stem * scale


def _write_song(paths: tuple[Path, Path], mix: np.ndarray, stem: np.ndarray,
                spans: list[tuple[int, int]], sr: int) -> None:
    """The mix as a song file; the stem and spans.json in the song's stem folder."""
    song_path, stem_dir = paths
    song_path.parent.mkdir(parents=True, exist_ok=True)
    stem_dir.mkdir(parents=True, exist_ok=True)
    sf.write(song_path, mix, sr, subtype="PCM_16", format="FLAC")
    sf.write(stem_dir / "vocals.flac", stem, sr, subtype="PCM_16", format="FLAC")
    info = {
        "sampling_rate": sr,
        "duration_s": len(mix) / sr,
        "sung": [[round(a / sr, 6), round(b / sr, 6)] for a, b in spans],
    }
    (stem_dir / "spans.json").write_text(json.dumps(info) + "\n")


def read_spans(stem_dir: str | Path) -> list[tuple[float, float]]:
    """The (start_s, end_s) spans where the voice sings, from ``<stem_dir>/spans.json``."""
    info = json.loads((Path(stem_dir) / "spans.json").read_text())
    return [(float(a), float(b)) for a, b in info["sung"]]


# ----------------------------------------------------------------------------- corpus


def check_arguments(singers: int, albums: int, songs: int, seconds: float, sampling_rate: int,
                    channels: int, seed: int) -> None:
    """ValueError, starting with the parameter's name, for a corpus that cannot be made."""
    if not 1 <= singers <= len(ARTIST_NAMES):
        raise ValueError(f"singers must be in 1..{len(ARTIST_NAMES)}, got {singers}")
    if albums < 1:
        raise ValueError(f"albums must be at least 1, got {albums}")
    if songs < 1:
        raise ValueError(f"songs must be at least 1, got {songs}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise ValueError(f"channels must be in 1..{MAX_CHANNELS} (FLAC's limit), got {channels}")
    if seconds < MIN_SECONDS:
        raise ValueError(f"seconds must be at least {MIN_SECONDS}, got {seconds}")
    if sampling_rate < MIN_SAMPLING_RATE:
        raise ValueError(f"sampling_rate must be at least {MIN_SAMPLING_RATE}, got {sampling_rate}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")


def make_song(seed: int, singer: int, album: int, song: int, seconds: float, sr: int,
              channels: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Mix (n, channels) or (n,), its vocal stem with the same shape, and the sung spans."""
    plan = plan_song(seed, album, song, seconds)
    n = round(plan.duration * sr)
    band = play_band(plan, _rng(seed, _NOISE, album, song), n, sr)
    melody_rng = _rng(seed, _MELODY, singer, album, song)
    vocal, spans = sing_song(plan, singer_voice(seed, singer), melody_rng, n, sr)
    mix, stem = mix_song(band, vocal, spans, plan.vocal_db, channels)
    return mix, stem, spans


def stem_dir_of(song_path: str | Path, out_dir: str | Path) -> Path:
    """The folder with the vocal stem and spans of a song written under ``out_dir``."""
    relative = Path(song_path).relative_to(out_dir)
    return Path(out_dir) / STEMS_DIR / relative.with_suffix("")


def _worker_count() -> int:
    """One thread per usable core, at most 8: each holds a few songs' worth of arrays."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, 8)


def synthesize_corpus(out_dir: str | Path, seed: int = 0, singers: int = 6, albums: int = 6,
                      songs: int = 3, seconds: float = 25.0, sampling_rate: int = 44100,
                      channels: int = 2, progress: bool = True) -> list[Path]:
    """Write an artist20-shaped corpus of synthetic songs; return the song paths, sorted."""
    check_arguments(singers, albums, songs, seconds, sampling_rate, channels, seed)
    out = Path(out_dir)
    blocking = next((folder for folder in (out, *out.parents) if folder.exists() and not folder.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(f"{out}: {blocking} is a file, not a folder; choose another output folder")
    width = max(2, len(str(songs)))
    jobs = []
    for singer in range(singers):
        for album, album_name in enumerate(album_names(seed, singer, albums)):
            for song in range(songs):
                name = f"{song + 1:0{width}d}-{song_title(seed, singer, album, song)}"
                song_path = Path(out_dir) / ARTIST_NAMES[singer] / album_name / f"{name}.flac"
                paths = (song_path, stem_dir_of(song_path, out_dir))
                jobs.append((paths, (seed, singer, album, song)))

    def render(job: tuple[tuple[Path, Path], tuple[int, int, int, int]]) -> None:
        paths, indices = job
        mix, stem, spans = make_song(*indices, seconds, sampling_rate, channels)
        _write_song(paths, mix, stem, spans, sampling_rate)

    # Threads suffice: the heavy work is numpy, scipy and libsndfile, which release the GIL.
    # Every song has its own random streams, so the order of work never changes a byte.
    with ThreadPoolExecutor(_worker_count()) as pool:
        done = pool.map(render, jobs)
        for _ in tqdm(done, total=len(jobs), desc="synthesizing songs", unit="song",
                      disable=not progress):
            pass
    return sorted(paths[0] for paths, _ in jobs)


def corpus_size(songs: list[Path], out_dir: str | Path) -> tuple[float, float, float]:
    """Seconds of audio, and megabytes of songs and of stems, of a corpus just written."""
    import soundfile as sf

    stems = [file for song in songs for file in stem_dir_of(song, out_dir).iterdir()]
    megabytes = [sum(path.stat().st_size for path in paths) / 1e6 for paths in (songs, stems)]
    return sum(sf.info(str(path)).duration for path in songs), *megabytes
