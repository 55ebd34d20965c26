"""The web page of `singerid app`: upload or record a song, see who sings it.

    song (upload / microphone) ─▶ predict_songs (the model's own preprocessing, timeline=True)
        ─▶ top singers with their probabilities, the song's timeline, `unknown` (open set)

The model is loaded once, when the page is built. Where the model has a calibrated
gallery of singers (training leaves one; `singerid enroll` adds singers), the page
answers in the open set, as `predict --open-set` does: the gallery's singers by cosine
similarity, `unknown` first when even the best one falls below the gallery's threshold.
The timeline always shows the trained singers' probabilities, chunk by chunk.

Whatever goes wrong with one song (a file that is not audio, demucs weights that are not
here) is a message on the page; the page keeps serving. Nothing is fetched from outside:
Gradio's analytics are off, and the theme uses the system's fonts, not web fonts.
Needs the app extra: `pip install "singerid[app]"` (Gradio).
"""

from __future__ import annotations

import os

# Before Gradio is imported: it reads this for its usage analytics and version check.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from pathlib import Path  # noqa: E402

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
                 unknown_label: str = UNKNOWN_LABEL):
        import torch

        self.model_id = str(model)
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
                             gallery=self.gallery, unknown_label=self.unknown_label, timeline=True)[0]

    def answer(self, path: str | None):
        """The page's outputs for one song: ({singer: score}, timeline figure, message)."""
        if not path:
            return None, None, self.problem_text()
        name = Path(path).name
        try:
            prediction = self.predict(path)
        except SeparatorUnavailable as error:
            return None, None, f"**{name} was not identified.** {one_line(error)}"
        except Exception as error:  # noqa: BLE001 (one song's failure, whatever it is, leaves the page serving)
            return None, None, f"**{name} was not identified:** {type(error).__name__}: {one_line(error)}"
        if prediction.error is not None:
            return None, None, f"**{name} could not be read as a song:** {prediction.error}"
        scores = dict(zip(prediction.labels, prediction.scores))
        figure = None
        if prediction.timeline is not None:
            from .reports import plot_timeline

            figure = plot_timeline(prediction.timeline, title=name)
        best = prediction.labels[0]
        kind = "similarity" if self.open_set else "probability"
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
        return f"**The model cannot identify songs here yet.** {self.problem}" if self.problem else ""

    def about(self) -> str:
        config = prediction_config(self.model, separator=self.separator, remove_silence=self.remove_silence,
                                   demucs_repo=self.demucs_repo)
        singers = self.singers
        shown = ", ".join(singers[:12]) + (f", … ({len(singers)} in all)" if len(singers) > 12 else "")
        mode = (f"Open set: the gallery's singers by cosine similarity; `{self.unknown_label}` when even the best "
                f"is below the gallery's threshold ({self.gallery.calibration.threshold:.2f})."
                if self.open_set else "")
        stages = [f"separator {config.separator}" if config.uses_separator else "no vocal separation",
                  "silence removed" if config.remove_silence else "silence kept",
                  f"{self.model.config.chunk_seconds:g} s chunks at {self.model.config.sampling_rate} Hz"]
        lines = [f"Model `{self.model_id}`: {len(singers)} singers ({shown}).", mode, *self.notes,
                 f"Each song goes through the model's own preprocessing: {', '.join(stages)}. The timeline shows "
                 "the trained singers' probabilities chunk by chunk over the song; grey: cut as silence."]
        return "  \n".join(line for line in lines if line)


def build_app(identifier: SingerIdentifier, title: str = "singerid: who is singing?"):
    """The page (a `gr.Blocks`) for `identifier`; serve it with `launch`."""
    gr = gradio()
    kind = "cosine similarity" if identifier.open_set else "probability"
    with gr.Blocks(title=title, analytics_enabled=False) as page:
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
    return page


def theme():
    """Gradio's default look with local fonts only."""
    gr = gradio()
    return gr.themes.Default(font=list(FONT), font_mono=list(FONT_MONO))


def launch(page, host: str = "127.0.0.1", port: int | None = None) -> str:
    """Start serving `page` in the background on http://host:port (port None: the first
    free one from 7860) and return its local URL; `page.block_thread()` waits, `page.close()`
    stops it. Nothing is shared or fetched: no share link, no analytics, no server-side
    rendering, no MCP server."""
    _, url, _ = page.launch(server_name=host, server_port=port, share=False, quiet=True, prevent_thread_lock=True,
                            ssr_mode=False, mcp_server=False, pwa=False, enable_monitoring=False, theme=theme(),
                            footer_links=[], show_error=False)
    return url
