"""`singerid app` in a real browser: headless Chromium (Debian's chromium and
chromium-driver, which `make test` installs) drives the Gradio page through Selenium.

The page is served on 127.0.0.1 from this process, with a tiny saved model whose answer
is known; nothing may be fetched from anywhere else, by the browser or by the server.
Screenshots: `<the test's tmp_path>/app.png` (pytest keeps the last runs' tmp folders,
e.g. /tmp/pytest-of-root/pytest-current/test_a_song_gets_...current/app.png).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import soundfile as sf

from fakes.hub_server import HubServer, hub_env
from helpers import RANKED_LABELS, ranked_model, write_tone

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never goes online (it is not used: see _browser)
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

import singerid.app as app  # noqa: E402
from singerid.app import IDS, SingerIdentifier, build_app, launch  # noqa: E402
from singerid.gallery import Calibration, Gallery  # noqa: E402
from singerid.prediction import predict_songs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = RANKED_LABELS
PREPROCESSING = {"separator": "none", "remove_silence": True, "silence_db": -35.0, "min_silence_seconds": 0.5,
                 "segment_seconds": 5.0, "sampling_rate": 24000}
WAIT_S = 45
# Gradio 6.31's queue uses pandas options that pandas 3 deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def _save_model(folder: Path, preprocessing: dict) -> Path:
    ranked_model(preprocessing).save_pretrained(folder)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def outbound():
    """Every address this process connects to or looks up while the app serves, but loopback ones."""
    seen: list[str] = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def note(address):
        if isinstance(address, tuple) and not _loopback(str(address[0])):
            seen.append(str(address[0]))

    def patched_connect(self, address):
        note(address)
        return connect(self, address)

    def patched_connect_ex(self, address):
        note(address)
        return connect_ex(self, address)

    def patched_getaddrinfo(host, *args, **kwargs):
        if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else str(host)):
            seen.append(str(host))
        return getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", patched_connect)
        patch.setattr(socket.socket, "connect_ex", patched_connect_ex)
        patch.setattr(socket, "getaddrinfo", patched_getaddrinfo)
        yield seen


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return _save_model(tmp_path_factory.mktemp("model"), PREPROCESSING)


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("songs")
    broken = root / "not a song.mp3"
    broken.write_text("this is a text file, renamed .mp3\n" * 20)
    return {"song": write_tone(root / "demo song.wav", seconds=12.0, rate=16000, silent_spans=((2.0, 3.0),)),
            "broken": broken}


@pytest.fixture(scope="module", autouse=True)
def gradio_files(tmp_path_factory):
    """Gradio's copies of uploads go to a temporary folder, not /tmp/gradio."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
        yield


@pytest.fixture(scope="module")
def app_url(model_dir, outbound):
    page = build_app(SingerIdentifier(str(model_dir), top_k=4, device="cpu"))
    url = launch(page, host="127.0.0.1", port=_free_port())
    yield url
    page.close()


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromedriver are needed (make test installs them: apt-get install " \
                                "chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100",
                     "--disable-gpu", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request the page makes
    # The driver's own path: Selenium Manager is never asked (it would look online).
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    yield session
    session.quit()


def _open(browser, url: str):
    browser.get(url)
    WebDriverWait(browser, WAIT_S).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, f"#{IDS['audio']} input[type=file]")))


def _upload(browser, path: Path):
    browser.find_element(By.CSS_SELECTOR, f"#{IDS['audio']} input[type=file]").send_keys(str(path))


def _status(browser) -> str:
    return browser.find_element(By.ID, IDS["status"]).text


def _wait_status(browser, *words: str) -> str:
    WebDriverWait(browser, WAIT_S).until(lambda _: all(word in _status(browser) for word in words),
                                         f"the page never said {words}")
    return _status(browser)


def _requested_urls(browser) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def _post_upload(url: str, path: Path) -> list[str]:
    """The files Gradio's upload route stored for `path`, posted as its client posts it."""
    boundary = "singerid-test-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() \
        + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _toasts(browser) -> str:
    return " ".join(toast.text for toast in browser.find_elements(By.CSS_SELECTOR, "[data-testid=toast-body]"))


class PeakMemory:
    """This process's resident memory (the page is served from it), read from /proc every
    few milliseconds in a thread while the block runs: `idle` before it, `peak` during it."""

    def __init__(self, every_s: float = 0.002):
        self.every_s = every_s

    @staticmethod
    def resident() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc/self/status")

    def _sample(self):
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, self.resident())

    def __enter__(self) -> "PeakMemory":
        self.idle = self.peak = self.resident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.resident())


def test_a_song_gets_its_singer_and_timeline_as_predict_gives_them(app_url, browser, songs, model_dir, outbound,
                                                                   tmp_path):
    expected = predict_songs([songs["song"]], str(model_dir), top_k=4, progress=False, workers=1)[0]
    assert expected.error is None and expected.labels[0] == "bob"
    _open(browser, app_url)
    about = browser.find_element(By.ID, IDS["about"]).text
    assert "4 singers" in about and "Closed set" in about
    _upload(browser, songs["song"])
    _wait_status(browser, "demo song.wav", expected.labels[0])
    top = browser.find_element(By.CSS_SELECTOR, f"#{IDS['label']} [data-testid=label-output-value]").text
    assert top == expected.labels[0]
    shown = {meter.get_attribute("aria-label"): float(meter.get_attribute("value"))
             for meter in browser.find_elements(By.CSS_SELECTOR, f"#{IDS['label']} meter")}
    assert shown == pytest.approx(dict(zip(expected.labels, expected.scores)), abs=1e-4)
    image = WebDriverWait(browser, WAIT_S).until(
        EC.visibility_of_element_located((By.CSS_SELECTOR, f"#{IDS['timeline']} img")))
    assert image.get_attribute("src").startswith("data:image/png")
    assert browser.execute_script("return arguments[0].naturalWidth", image) > 300  # drawn, not a broken image
    screenshot = tmp_path / "app.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
    # Nothing came from anywhere but the app: no web fonts, no CDN, no analytics.
    requested = _requested_urls(browser)
    assert any(url.startswith(app_url) for url in requested)
    foreign = [url for url in requested if urlparse(url).scheme not in ("data", "blob")
               and not _loopback(urlparse(url).hostname or "")]
    assert foreign == []
    assert outbound == []


def test_a_bad_upload_is_a_message_and_the_page_keeps_serving(app_url, browser, songs, outbound, tmp_path):
    _open(browser, app_url)
    _upload(browser, songs["broken"])
    message = _wait_status(browser, "not a song.mp3", "could not be read")
    assert "not decodable" in message and "\n" not in message.strip(), message  # what is wrong, in one line
    assert browser.find_elements(By.CSS_SELECTOR, f"#{IDS['timeline']} img") == []
    browser.save_screenshot(str(tmp_path / "app_error.png"))
    browser.find_element(By.CSS_SELECTOR, f"#{IDS['audio']} button[aria-label=Clear]").click()
    WebDriverWait(browser, WAIT_S).until(lambda _: _status(browser) == "")  # clearing clears the answer
    _upload(browser, songs["song"])
    _wait_status(browser, "demo song.wav", "bob")
    assert browser.find_element(By.CSS_SELECTOR, f"#{IDS['label']} [data-testid=label-output-value]").text == "bob"
    browser.save_screenshot(str(tmp_path / "app.png"))
    assert outbound == []


def test_open_set_answers_unknown_below_the_gallerys_threshold(tmp_path, songs):
    folder = _save_model(tmp_path / "model", PREPROCESSING)
    embedding = predict_songs([songs["song"]], str(folder), progress=False, workers=1, embeddings=True)[0].embedding
    others = np.roll(embedding, 7)
    gallery = Gallery.from_training(["a", "b", "c"], ["bob", "bob", "cat"], np.stack([embedding, embedding, others]))
    gallery.calibration = Calibration(threshold=1.5, false_accept_rate=0.05, equal_error_rate=0.1, method="test")
    gallery.save(folder)  # no cosine similarity reaches 1.5: every song is unknown
    identifier = SingerIdentifier(str(folder), device="cpu")
    assert identifier.open_set and "unknown" in identifier.about()
    scores, figure, text = identifier.answer(str(songs["song"]))
    assert list(scores)[0] == "unknown" and list(scores)[1] == "bob"
    assert "unknown" in text and "closest is bob" in text
    assert figure is not None and figure.axes  # the closed-set timeline still comes with it

    gallery.calibration = Calibration(threshold=0.5, false_accept_rate=0.05, equal_error_rate=0.1, method="test")
    gallery.save(folder)  # the song's own embedding is bob's centroid: similarity 1
    scores, _, text = SingerIdentifier(str(folder), device="cpu").answer(str(songs["song"]))
    assert list(scores)[0] == "bob" and scores["bob"] == pytest.approx(1.0, abs=1e-4) and "unknown" not in scores


def test_missing_separator_weights_are_a_message_on_the_page(tmp_path, songs, monkeypatch, outbound):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no demucs weights cached
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    folder = _save_model(tmp_path / "model", {**PREPROCESSING, "separator": "htdemucs"})
    identifier = SingerIdentifier(str(folder), device="cpu")
    assert identifier.problem and "--demucs-repo DIR" in identifier.problem
    page = build_app(identifier)
    url = launch(page, port=_free_port())
    try:  # the page serves, and says so where the answer would be
        with urllib.request.urlopen(url + "config", timeout=30) as response:
            config = json.loads(response.read())
        status = next(c for c in config["components"] if c["props"].get("elem_id") == IDS["status"])
        assert "cannot identify songs" in status["props"]["value"] and "--demucs-repo DIR" in status["props"]["value"]
        scores, figure, text = identifier.answer(str(songs["song"]))
        assert scores is None and figure is None and "--demucs-repo DIR" in text and "demo song.wav" in text
    finally:
        page.close()
    assert outbound == []


def test_the_command_and_script_answer_help_without_gradio():
    code = ("import sys\nsys.modules['gradio'] = None  # the app extra is not installed\n"
            "from singerid.commands import main\nsys.exit(main(['app', '--help']))\n")
    for command in ([sys.executable, "-c", code], [sys.executable, str(ROOT / "scripts" / "app.py"), "--help"],
                    [str(Path(sys.executable).parent / "singerid"), "app", "--help"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "usage: singerid app" in result.stdout and "--model" in result.stdout and "--port" in result.stdout
        assert "--max_upload_mb" in result.stdout and "--max_duration_minutes" in result.stdout


def test_uploads_over_the_limits_are_refused_at_once_with_their_numbers(model_dir, browser, songs, tmp_path,
                                                                         outbound):
    big = write_tone(tmp_path / "big song.wav", seconds=40.0, rate=16000)
    hours = tmp_path / "two hours.wav"  # 14 KB whose header says 7,200 samples at 1 Hz: two hours
    sf.write(hours, np.random.default_rng(0).uniform(-0.1, 0.1, 7200).astype(np.float32), 1, subtype="PCM_16")
    assert big.stat().st_size > 2**20 > hours.stat().st_size
    page = build_app(SingerIdentifier(str(model_dir), top_k=4, device="cpu"))
    url = launch(page, port=_free_port(), max_upload_mb=1)
    try:
        _open(browser, url)
        _upload(browser, big)
        # the toast's text as first seen: it closes by itself, and a slow machine may read again after that
        toast = WebDriverWait(browser, WAIT_S).until(
            lambda _: text if "big song.wav" in (text := _toasts(browser)) else False, "no refusal was shown")
        assert "1.0 Mb" in toast and _status(browser) == ""  # refused before the handler (Gradio's words)
        with pytest.raises(urllib.error.HTTPError) as refused:  # and a client other than the page, by the server
            _post_upload(url, big)
        assert refused.value.code == 413
        with PeakMemory() as memory:
            _upload(browser, hours)
            message = _wait_status(browser, "two hours.wav", "120.0 minutes",
                                   f"limit of {app.DEFAULT_MAX_DURATION_MINUTES:g} minutes")
        assert memory.peak - memory.idle < 200 * 2**20, \
            f"{(memory.peak - memory.idle) / 2**20:.0f} MB more while refusing: {message}"
        browser.find_element(By.CSS_SELECTOR, f"#{IDS['audio']} button[aria-label=Clear]").click()
        WebDriverWait(browser, WAIT_S).until(lambda _: _status(browser) == "")
        _upload(browser, songs["song"])  # the page answers the next song at once
        _wait_status(browser, "demo song.wav", "bob")
        # and still serves the song it answered, to its player and its download link
        source = browser.find_element(By.CSS_SELECTOR, f"#{IDS['audio']} [data-testid=download-link]").get_attribute(
            "href")
        with urllib.request.urlopen(source, timeout=30) as response:
            assert response.status == 200 and response.read(4) == b"RIFF"
        browser.save_screenshot(str(tmp_path / "app_limits.png"))
    finally:
        page.close()
    assert outbound == []


def test_the_page_and_its_api_name_the_model_without_server_paths(app_url, model_dir, tmp_path_factory):
    config, info = _get(app_url + "config"), _get(app_url + "gradio_api/info")
    about = next(c for c in json.loads(config)["components"] if c["props"].get("elem_id") == IDS["about"])
    assert f"Model `{model_dir.name}`" in about["props"]["value"]
    for private in (str(model_dir), str(tmp_path_factory.getbasetemp()), str(ROOT)):
        assert private not in config and private not in info


def test_uploads_are_deleted_and_the_queue_is_bounded(model_dir, tmp_path):
    identifier = SingerIdentifier(str(model_dir), device="cpu")
    page = build_app(identifier)
    every_s, age_s = page.delete_cache
    # Swept every minute; kept long enough to be answered and then played whole.
    assert every_s <= 60 and 60 * app.DEFAULT_MAX_DURATION_MINUTES < age_s <= 3600
    assert page._queue.default_concurrency_limit > 1 and 0 < page._queue.max_size < 100
    quick = build_app(identifier, delete_cache=(1, 1))
    url = launch(quick, port=_free_port())
    try:
        [stored] = _post_upload(url, write_tone(tmp_path / "song.wav", seconds=1.0))
        assert Path(stored).is_file()
        WebDriverWait(None, 30, poll_frequency=0.2).until(lambda _: not Path(stored).exists(),
                                                           "the upload was never deleted")
    finally:
        quick.close()


def test_a_slow_song_does_not_hold_up_the_next(model_dir, songs, tmp_path, outbound):
    from gradio_client import Client, handle_file

    identifier = SingerIdentifier(str(model_dir), top_k=4, device="cpu")
    released, answer = threading.Event(), identifier.answer

    def held_while_slow(path):  # the slow song is answered only once the next one has been
        if Path(path).name.startswith("slow"):
            released.wait(WAIT_S)
        return answer(path)

    identifier.answer = held_while_slow
    slow = shutil.copy(songs["song"], tmp_path / "slow song.wav")
    page = build_app(identifier)
    url = launch(page, port=_free_port())
    try:
        client = Client(url, verbose=False, download_files=False)
        held = client.submit(handle_file(str(slow)), api_name="/answer")
        WebDriverWait(None, WAIT_S, poll_frequency=0.1).until(lambda _: held.status().code.name == "PROCESSING")
        _, _, text = client.submit(handle_file(str(songs["song"])), api_name="/answer").result(timeout=WAIT_S)
        assert "demo song.wav" in text and "bob" in text
        released.set()
        assert "slow song.wav" in held.result(timeout=WAIT_S)[2]
    finally:
        released.set()
        page.close()
    assert outbound == []


# -- singerid space: the page as a Hugging Face Space -----------------------------------------
HUB_USER = "test-user"


def _ran(argv: list[str], env: dict, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


def _pins(text: str) -> dict[str, str | None]:
    """Each requirement's exact version (None when it is not pinned with ==), by canonical name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):  # options, e.g. --extra-index-url
            requirement = Requirement(line)
            exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            pins[canonicalize_name(requirement.name)] = exact[0] if len(requirement.specifier) == 1 and exact else None
    return pins


def _front_matter(readme: str) -> dict:
    import yaml

    _, front, _ = readme.split("---\n", 2)
    return yaml.safe_load(front)


def test_a_space_is_built_pushed_pulled_and_serves_the_models_page(model_dir, browser, songs, tmp_path):
    from packaging.version import Version

    import singerid

    run = Path(shutil.copytree(model_dir, tmp_path / "run"))
    from singerid.metrics import METRICS

    test_metrics = {**{metric.key: 0.75 for metric in METRICS}, "song_top1": 0.5, "song_top3": 1.0, "num_songs": 2}
    (run / "metrics.json").write_text(json.dumps({"test": test_metrics}))
    model_id, space_id = f"{HUB_USER}/singer", f"{HUB_USER}/singer-space"
    with HubServer(tmp_path / "hub") as hub:
        pusher = hub_env(hub, tmp_path / "pusher_home")
        _ran([sys.executable, str(ROOT / "scripts" / "push_to_hub.py"), "--model", str(run), "--model-repo", model_id],
             pusher)
        _ran([sys.executable, str(ROOT / "scripts" / "space.py"), "--model", model_id, "--space-id", space_id], pusher)
        assert hub.repo(space_id, "space").sdk == "gradio"
        pulled = tmp_path / "pulled"
        _ran([sys.executable, "-c", "from huggingface_hub import snapshot_download; "
              f"snapshot_download({space_id!r}, repo_type='space', local_dir={str(pulled)!r})"],
             hub_env(hub, tmp_path / "puller_home"))

        # Pinned requirements that agree with the project's pins
        requirements = _pins((pulled / "requirements.txt").read_text())
        constraints = {name: pin for name, pin in _pins((ROOT / "constraints-cpu.txt").read_text()).items() if pin}
        assert requirements and all(requirements.values()), requirements
        shared = requirements.keys() & constraints.keys()
        assert {"torch", "transformers", "datasets", "gradio"} <= shared
        assert {name: Version(requirements[name]).public for name in shared} == \
            {name: Version(constraints[name]).public for name in shared}
        assert "ffmpeg" in (pulled / "packages.txt").read_text().split()
        front = _front_matter((pulled / "README.md").read_text())
        assert front["sdk"] == "gradio" and front["sdk_version"] == constraints["gradio"]
        assert front["models"] == [model_id] and (pulled / front["app_file"]).is_file()
        assert front["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
        # The model is loaded at the revision it had, never copied
        settings = json.loads((pulled / "space.json").read_text())
        assert settings["revision"] == hub.repo(model_id).branches["main"]
        assert not [path for path in pulled.rglob("*.safetensors") if ".cache" not in path.parts]
        assert "top-1 0.500, top-3 1.000" in settings["title"]

        # The bundled singerid installs offline, without dependencies; the app file asks for what is missing
        venv = tmp_path / "venv"
        bare = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        _ran([sys.executable, "-m", "venv", str(venv)], bare)
        missing = "import runpy; print(runpy.run_path('app.py')['missing_packages']())"
        wheel = next((pulled / "wheels").glob("singerid-*.whl"))
        assert _ran([str(venv / "bin" / "python"), "-c", missing], bare, cwd=pulled).strip() == \
            str([str(wheel), f"unsilence=={settings['unsilence']}"])
        _ran([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
             bare)
        version = "import importlib.metadata as m; print(m.version('singerid'))"
        assert _ran([str(venv / "bin" / "python"), "-c", version], bare).strip() == singerid.__version__
        assert _ran([str(venv / "bin" / "python"), "-c", missing], bare, cwd=pulled).strip() == \
            str([f"unsilence=={settings['unsilence']}"])

        # The app file, from the pulled folder with an empty HF_HOME, serves the page
        port = _free_port()
        app_env = {**hub_env(hub, tmp_path / "empty_hf_home"), "GRADIO_SERVER_NAME": "127.0.0.1",
                   "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
        with open(tmp_path / "app.log", "w") as log:
            server = subprocess.Popen([sys.executable, "app.py"], cwd=pulled, env=app_env, stdout=log,
                                      stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            WebDriverWait(None, 120, poll_frequency=0.5).until(
                lambda _: server.poll() is not None or _answers(url), "the Space's app never answered")
            assert server.poll() is None, (tmp_path / "app.log").read_text()[-4000:]
            expected = predict_songs([songs["song"]], str(model_dir), top_k=5, progress=False, workers=1)[0]
            _open(browser, url)
            assert "top-1 0.500" in browser.find_element(By.TAG_NAME, "h1").text
            _upload(browser, songs["song"])
            _wait_status(browser, "demo song.wav", expected.labels[0])
            top = browser.find_element(By.CSS_SELECTOR, f"#{IDS['label']} [data-testid=label-output-value]").text
            assert top == expected.labels[0]
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert not hub.errors, hub.errors[0]


def _answers(url: str) -> bool:
    try:
        return bool(_get(url))
    except OSError:
        return False


def test_a_space_for_a_local_run_bundles_the_model_and_warns_when_it_is_large(model_dir, tmp_path, caplog,
                                                                             monkeypatch):
    from singerid.hub import space

    monkeypatch.setattr(space, "LARGE_MODEL_MB", 0)
    folder = space.build_space(model_dir, tmp_path / "space")
    bundled = sorted(path.name for path in (folder / "model").iterdir())
    assert "config.json" in bundled and "model.safetensors" in bundled and not any(n.endswith(".py") for n in bundled)
    assert "push the model to the Hub" in caplog.text
    settings = json.loads((folder / "space.json").read_text())
    assert settings["model"] == "model" and settings["revision"] is None and settings["name"] == model_dir.name
    assert "models" not in _front_matter((folder / "README.md").read_text())
    assert str(tmp_path) not in "".join(path.read_text() for path in folder.glob("*.*") if path.suffix != ".whl")
    # Without a home folder to write in, the app file points the caches at the temporary folder
    # before huggingface_hub reads them
    cache_home = ("import runpy, tempfile; runpy.run_path('app.py')['writable_caches'](); "
                  "import huggingface_hub.constants as c; print(c.HF_HOME == tempfile.gettempdir() + '/huggingface')")
    bare = {key: value for key, value in os.environ.items() if key not in ("HF_HOME", "SINGERID_CACHE", "MPLCONFIGDIR")}
    assert _ran([sys.executable, "-c", cache_home], {**bare, "HOME": str(tmp_path / "no home")}, cwd=folder) == "True\n"
    assert _ran([sys.executable, "-c", cache_home], {**bare, "HOME": str(tmp_path)}, cwd=folder) == "False\n"
