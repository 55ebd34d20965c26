"""The web page of `singerid app`: upload or record a song, see who sings it.

    song (upload / microphone) ─▶ predict_songs (the model's own preprocessing, timeline=True)
        ─▶ top singers with their probabilities, the song's timeline, `unknown` (open set)

The model is loaded once, when the page is built. Where the model has a calibrated
gallery of singers (training leaves one; `singerid enroll` adds singers), the page
answers in the open set, as `predict --open-set` does: the gallery's singers by the
gallery's score, `unknown` first when even the best one falls below the gallery's threshold.
The timeline always shows the trained singers' probabilities, chunk by chunk.

Whatever goes wrong with one song (a file that is not audio, demucs weights that are not
here) is a message on the page; the page keeps serving. Nothing is fetched from outside:
Gradio's analytics are off, and the theme uses the system's fonts, not web fonts.

The page has limits, so that one visitor cannot take the server from the others: an upload
over `max_upload_mb` is refused by Gradio before it is stored, a song over
`max_duration_minutes` is refused from its header before it is decoded (or once decoding
reaches the limit, where the header says nothing), two songs are answered at a time with a
bounded queue behind them, and uploads are deleted after a while. The page names the model
by its folder's name or Hub id, never by a path on the server.
Needs the app extra: `pip install "singerid[app]"` (Gradio).
"""

from __future__ import annotations

import os

# Before Gradio is imported: it reads this for its usage analytics and version check.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from pathlib import Path  # noqa: E402

from .audio import TOO_LONG  # noqa: E402
from .errors import SingeridError, one_line  # noqa: E402
from .gallery import UNKNOWN_LABEL, Gallery  # noqa: E402
from .prediction import SongPrediction, load_model, model_gallery, predict_songs, prediction_config  # noqa: E402
from .preprocessing import SongPreprocessor  # noqa: E402
from .preprocessing.separation import SeparatorUnavailable  # noqa: E402

TOP_K = 5
# Local font names only: no web font is requested (Gradio's own fonts would be served by the
# app itself, but a system font costs nothing and looks native).
FONT = ("system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif")
FONT_MONO = ("ui-monospace", "DejaVu Sans Mono", "Menlo", "Consolas", "monospace")
# The page's elements, by id (the browser tests find them so).
IDS = {"audio": "song", "label": "singers", "timeline": "timeline", "status": "status", "about": "about"}
# The page's limits (`singerid app --max_upload_mb --max_duration_minutes`), sized for a song
# answered on a CPU: a 10-minute song takes about a gigabyte and tens of seconds there.
DEFAULT_MAX_UPLOAD_MB = 50
DEFAULT_MAX_DURATION_MINUTES = 10
# Gradio's `delete_cache` (every, age) in seconds: uploads are swept every minute and kept 15
# minutes, time to answer a song of the longest length and then to play it whole.
DELETE_CACHE = (60, 15 * 60)
# Songs answered at once: a second one need not wait for a long one to finish (each uses all
# the cores it gets, so more would only share them and add memory); behind them a queue of
# at most QUEUE_SIZE, beyond which a visitor is told the page is busy rather than left waiting.
CONCURRENT_SONGS = 2
QUEUE_SIZE = 16


def gradio():
    """The gradio module, or an error that says how to install it."""
    try:
        import gradio
    except ImportError as error:
        raise SingeridError(f"singerid app needs Gradio ({one_line(error)}): pip install \"singerid[app]\"") from None
    return gradio


class SingerIdentifier:
    """What the page does with a song: the model loaded once, its gallery, and the
    problems found at start (e.g. a separator without weights), shown on the page."""

    def __init__(self, model: str | Path, top_k: int = TOP_K, device: str | None = None,
                 demucs_repo: str | None = None, separator: str | None = None, remove_silence: bool | None = None,
                 cache_dir: str | Path | None = None, open_set: bool | None = None,
                 unknown_label: str = UNKNOWN_LABEL, max_duration_minutes: float | None = DEFAULT_MAX_DURATION_MINUTES,
                 name: str | None = None):
        import torch

        self.model_id = str(model)
        self.name = name or model_name(model)  # `name`: e.g. the Hub id of a model read from a local copy
        self.max_duration_minutes = max_duration_minutes
        # This server's folders, longest first, which the page names by their own names only.
        folders = {str(path) for path in (model, demucs_repo, cache_dir) if path is not None and Path(path).is_dir()}
        self._folders = sorted(folders | {str(Path(folder).resolve()) for folder in folders}, key=len, reverse=True)
        self.model = load_model(model).eval()  # a model that cannot be loaded ends the command
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.top_k, self.demucs_repo, self.cache_dir = top_k, demucs_repo, cache_dir
        self.separator, self.remove_silence, self.unknown_label = separator, remove_silence, unknown_label
        self.notes: list[str] = []
        self.gallery = self._gallery(open_set)
        self.problem = self._check_separator()

    @property
    def open_set(self) -> bool:
        return self.gallery is not None

    @property
    def singers(self) -> list[str]:
        if self.gallery is not None:
            return self.gallery.singers
        return self.model.config.class_names

    def _gallery(self, wanted: bool | None) -> Gallery | None:
        """The model's gallery when it can answer `unknown` (calibrated); None for the closed set."""
        if wanted is False:
            return None
        try:
            gallery = model_gallery(self.model_id)
        except SingeridError as error:
            gallery, reason = None, one_line(error)
        else:
            reason = "the model has no gallery of singers"
        if gallery is not None and gallery.calibration is None:
            gallery, reason = None, "the model's gallery has no rejection threshold yet (enroll more songs)"
        if gallery is not None and self.unknown_label in gallery.singers:
            gallery, reason = None, f"{self.unknown_label!r} is a singer in the gallery"
        if gallery is None:
            if wanted:
                raise SingeridError(f"{self.model_id}: no open set: {reason}")
            self.notes.append(f"Closed set ({reason}): the answer is always one of the trained singers.")
        return gallery

    def _check_separator(self) -> str | None:
        """The separator's one-line problem (e.g. demucs weights not here), or None. A
        separator the model's files may not name (`UntrustedSeparator`) ends the command."""
        config = prediction_config(self.model, separator=self.separator, remove_silence=self.remove_silence,
                                   demucs_repo=self.demucs_repo)
        if not config.uses_separator:
            return None
        try:
            SongPreprocessor(config, cache_dir=self.cache_dir, device=self.device, demucs_repo=self.demucs_repo)
        except SeparatorUnavailable as error:
            return one_line(error)
        return None

    def predict(self, path: str | Path) -> SongPrediction:
        """The song's prediction (with its timeline), as `singerid predict` would make it.
        Raises what makes every song fail (e.g. `SeparatorUnavailable`)."""
        return predict_songs([path], self.model, top_k=self.top_k, separator=self.separator,
                             demucs_repo=self.demucs_repo, remove_silence=self.remove_silence, device=self.device,
                             cache_dir=self.cache_dir, progress=False, workers=1, open_set=self.open_set,
                             gallery=self.gallery, unknown_label=self.unknown_label, timeline=True,
                             max_duration_minutes=self.max_duration_minutes)[0]

    def answer(self, path: str | None):
        """The page's outputs for one song: ({singer: score}, timeline figure, message)."""
        if not path:
            return None, None, self.problem_text()
        name = Path(path).name
        try:
            prediction = self.predict(path)
        except SeparatorUnavailable as error:
            return None, None, f"**{name} was not identified.** {self.public(one_line(error), path)}"
        except Exception as error:  # noqa: BLE001 (one song's failure, whatever it is, leaves the page serving)
            return None, None, f"**{name} was not identified:** {type(error).__name__}: " \
                               f"{self.public(one_line(error), path)}"
        if prediction.error is not None:
            refused = "was not identified" if TOO_LONG in prediction.error else "could not be read as a song"
            return None, None, f"**{name} {refused}:** {self.public(prediction.error, path)}"
        scores = dict(zip(prediction.labels, prediction.scores))
        figure = None
        if prediction.timeline is not None:
            from .reports import plot_timeline

            figure = plot_timeline(prediction.timeline, title=name)
        best = prediction.labels[0]
        kind = "score" if self.open_set else "probability"
        if best == self.unknown_label:
            text = (f"**{name}: {self.unknown_label}**: none of the gallery's singers scores above its threshold "
                    f"({prediction.scores[0]:.2f}); the closest is {prediction.labels[1]} "
                    f"({kind} {prediction.scores[1]:.2f}).")
        else:
            text = f"**{name}: {best}** ({kind} {prediction.scores[0]:.2f})."
        notes = [*prediction.notes, *(["nothing audible after cleaning: the loudest window was classified"]
                                      if prediction.nothing_audible else [])]
        return scores, figure, text + "".join(f"  \nNote: {note}." for note in notes)

    def problem_text(self) -> str:
        return f"**The model cannot identify songs here yet.** {self.public(self.problem)}" if self.problem else ""

    def public(self, text: str, upload: str | Path | None = None) -> str:
        """`text` with this server's folders (the model's, the separator weights', the cache's)
        and the upload's path named by their own names only."""
        for folder in ([str(upload)] if upload else []) + self._folders:
            text = text.replace(folder, Path(folder).name)
        return text

    def about(self) -> str:
        config = prediction_config(self.model, separator=self.separator, remove_silence=self.remove_silence,
                                   demucs_repo=self.demucs_repo)
        singers = self.singers
        shown = ", ".join(singers[:12]) + (f", … ({len(singers)} in all)" if len(singers) > 12 else "")
        mode = (f"Open set: the gallery's singers by {self.gallery.scoring.name} score; `{self.unknown_label}` when "
                f"even the best "
                f"is below the gallery's threshold ({self.gallery.calibration.threshold:.2f})."
                if self.open_set else "")
        stages = [f"separator {config.separator}" if config.uses_separator else "no vocal separation",
                  "silence removed" if config.remove_silence else "silence kept",
                  f"{self.model.config.chunk_seconds:g} s chunks at {self.model.config.sampling_rate} Hz"]
        limit = (f" Songs up to {self.max_duration_minutes:g} minutes."
                 if self.max_duration_minutes is not None else "")
        lines = [f"Model `{self.name}`: {len(singers)} singers ({shown}).", mode, *self.notes,
                 f"Each song goes through the model's own preprocessing: {', '.join(stages)}. The timeline shows "
                 f"the trained singers' probabilities chunk by chunk over the song; grey: cut as silence.{limit}"]
        return self.public("  \n".join(line for line in lines if line))


def serve_space(folder: str | Path) -> None:
    """Serve the page of a Space `singerid space` wrote into `folder` until stopped, on
    Gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, as Spaces set them."""
    from .hub.space import space_model, space_settings

    folder = Path(folder)
    settings = space_settings(folder)
    identifier = SingerIdentifier(space_model(folder, settings), name=settings["name"], separator=settings["separator"],
                                  max_duration_minutes=float(settings["max_duration_minutes"]))
    trained_on = (identifier.model.config.preprocessing or {}).get("separator") or "none"
    if trained_on != "none" and settings["separator"] == "none":
        identifier.notes.append(f"This Space classifies the raw mix: the model was trained on {trained_on} vocal "
                                f"stems, but separation is off on free CPU hardware.")
    page = build_app(identifier, title=settings["title"])
    launch(page, host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
           port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), max_upload_mb=float(settings["max_upload_mb"]))
    page.block_thread()


def model_name(model: str | Path) -> str:
    """How the page names a model: a local folder by its own name, a Hub id as it is."""
    path = Path(str(model))
    return path.resolve().name if path.is_dir() else str(model)


def build_app(identifier: SingerIdentifier, title: str = "singerid: who is singing?",
              delete_cache: tuple[int, int] = DELETE_CACHE):
    """The page (a `gr.Blocks`) for `identifier`; serve it with `launch`. `delete_cache`:
    every how many seconds uploads older than how many seconds are deleted."""
    gr = gradio()
    kind = f"{identifier.gallery.scoring.name} score" if identifier.open_set else "probability"
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=delete_cache) as page:
        gr.Markdown(f"# {title}")
        gr.Markdown(identifier.about(), elem_id=IDS["about"])
        with gr.Row():
            with gr.Column(scale=1):
                song = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Song (upload or record)",
                                buttons=["download"], elem_id=IDS["audio"])
            with gr.Column(scale=1):
                singers = gr.Label(num_top_classes=identifier.top_k, label=f"Top singers ({kind})",
                                   elem_id=IDS["label"])
        status = gr.Markdown(identifier.problem_text(), elem_id=IDS["status"])
        timeline = gr.Plot(label="Timeline", format="png", elem_id=IDS["timeline"])

        def answer(path):
            scores, figure, text = identifier.answer(path)
            if path and scores is None:
                gr.Warning(text.replace("**", ""))
            return scores, figure, text

        # change: an upload, a recording, or clearing the song (which clears the answer)
        song.change(answer, inputs=song, outputs=[singers, timeline, status], show_progress="full")
    page.queue(default_concurrency_limit=CONCURRENT_SONGS, max_size=QUEUE_SIZE)
    return page


def theme():
    """Gradio's default look with local fonts only."""
    gr = gradio()
    return gr.themes.Default(font=list(FONT), font_mono=list(FONT_MONO))


def launch(page, host: str = "127.0.0.1", port: int | None = None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> str:
    """Start serving `page` in the background on http://host:port (port None: the first
    free one from 7860) and return its local URL; `page.block_thread()` waits, `page.close()`
    stops it. Nothing is shared or fetched: no share link, no analytics, no server-side
    rendering, no MCP server. An upload over `max_upload_mb` is refused before it is stored
    (the page says so with the limit; the server answers other clients 413)."""
    _, url, _ = page.launch(server_name=host, server_port=port, share=False, quiet=True, prevent_thread_lock=True,
                            max_file_size=round(max_upload_mb * 2**20),
                            ssr_mode=False, mcp_server=False, pwa=False, enable_monitoring=False, theme=theme(),
                            footer_links=[], show_error=False)
    return url
