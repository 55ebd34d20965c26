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
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from helpers import RANKED_LABELS, ranked_model, write_tone

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never goes online (it is not used: see _browser)
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

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
