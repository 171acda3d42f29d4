"""What users install and import: the wheel's layout, the public names, and a light import."""

import subprocess
import sys
import zipfile
from pathlib import Path

import metrictap

ROOT = Path(__file__).parent.parent.parent


def test_all_is_sorted_and_complete():
    """__all__ lists exactly the public names of the package, sorted."""
    public = sorted(name for name in vars(metrictap) if not name.startswith("_") or name == "__version__")
    public = [name for name in public if not isinstance(getattr(metrictap, name), type(sys)) or name == "__version__"]
    assert metrictap.__all__ == sorted(metrictap.__all__)
    assert set(metrictap.__all__) == set(public)


def test_import_stays_light():
    """Importing metrictap patches nothing and imports none of the heavy packages it talks to."""
    code = ("import sys, metrictap; heavy = ('numpy', 'torch', 'mlflow', 'wrapt', 'skrl', 'gymnasium', 'yaml');"
            "print(sorted(name for name in heavy if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_wheel_layout(tmp_path):
    """The wheel ships the adapter files as metrictap.adapters and nothing named adapters at the top level."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path),
                    str(ROOT)], check=True, timeout=600)
    (wheel,) = tmp_path.glob("metrictap-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "metrictap/adapters/skrl.toml" in names
    assert "metrictap/adapters/__init__.py" in names
    assert "metrictap/py.typed" in names
    assert not [name for name in names if name.startswith("adapters/")]
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "metrictap = metrictap.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_public_modules_export_what_they_define():
    """metrictap.sinks and metrictap.testing each list their public names in a sorted __all__ that resolves."""
    import metrictap.sinks
    import metrictap.testing

    for module in (metrictap.sinks, metrictap.testing):
        assert module.__all__ == sorted(module.__all__)
        assert all(hasattr(module, name) for name in module.__all__)
    assert {"Sink", "MlflowSink", "Point"} <= set(metrictap.sinks.__all__)
    assert {"MemorySink", "SyntheticAgent", "synthetic_adapter"} <= set(metrictap.testing.__all__)
