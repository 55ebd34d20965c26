"""A singerid Space's app file (`singerid space` copies it in as app.py; singerid.hub.space
says why): points the caches at the temporary folder when the home folder cannot be
written, installs singerid from the wheel beside it and unsilence, both without their
dependencies, when they are missing (requirements.txt holds singerid's; unsilence pins an
old rich), then serves the page of the model named in space.json."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def writable_caches() -> None:
    """Caches in the temporary folder when the home folder cannot be written (a Space's user
    may have none). Before huggingface_hub and matplotlib are imported: they read these once."""
    home = Path.home()
    if home.is_dir() and os.access(home, os.W_OK):
        return
    scratch = Path(tempfile.gettempdir())
    for variable, name in (("HF_HOME", "huggingface"), ("SINGERID_CACHE", "singerid"), ("MPLCONFIGDIR", "matplotlib")):
        os.environ.setdefault(variable, str(scratch / name))


def missing_packages() -> list[str]:
    """pip's arguments for the packages that cannot be imported yet."""
    settings = json.loads((HERE / "space.json").read_text())
    wanted = {"singerid": str(next((HERE / "wheels").glob("singerid-*.whl"))),
              "unsilence": f"unsilence=={settings['unsilence']}"}
    return [spec for module, spec in wanted.items() if importlib.util.find_spec(module) is None]


if __name__ == "__main__":
    writable_caches()
    missing = missing_packages()
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *missing], check=True)
    from singerid.app import serve_space

    serve_space(HERE)
