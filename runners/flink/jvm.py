"""fluvial's Java helpers for Flink, built from source at first use.

The Java sources live in ``runners/flink/java/`` (package ``fluvial.flink``); no binary is part
of fluvial. :func:`runtime_jar` compiles them with the JDK's ``javac`` against the jars of the
installed pyflink (``--release 11``) and packs the classes into a jar whose bytes depend only on
the classes (sorted entries, fixed timestamps). The jar is cached under
``<cache>/flink-java/<key>/``, where ``<key>`` is a hash of the sources, the pyflink version and
the target release; ``<cache>`` is ``$FLUVIAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/fluvial``,
else ``~/.cache/fluvial``. A missing or stale cache is rebuilt; deleting it is always safe.
Concurrent builders each build in a private directory and move the jar into place atomically.

No JDK: :class:`JavaNotFoundError` says what to install.

>>> len(source_key("2.3.0")) == 16
True
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import tempfile
import zipfile

from fluvial.errors import FluvialError

JAVA_DIR = pathlib.Path(__file__).resolve().parent / "java"
RELEASE = "11"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MANIFEST = b"Manifest-Version: 1.0\r\nCreated-By: fluvial\r\n\r\n"
_INSTALL_JDK = (
    "install a JDK 11 or newer (e.g. `apt-get install openjdk-17-jdk-headless` on Debian/Ubuntu, "
    "or Eclipse Temurin from adoptium.net) and put its bin/ on PATH or set JAVA_HOME"
)


class JavaNotFoundError(FluvialError):
    """No ``java`` / ``javac`` where the Flink runner looks for them."""


def _java_tool(name: str) -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        cand = pathlib.Path(home) / "bin" / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which(name)


def find_java() -> str:
    """The ``java`` launcher PyFlink will start, or JavaNotFoundError."""
    java = _java_tool("java")
    if java is None:
        raise JavaNotFoundError(f"the Flink runner needs a Java runtime and found none: {_INSTALL_JDK}")
    return java


def find_javac() -> str:
    """The JDK's ``javac``, or JavaNotFoundError (a JRE alone is not enough)."""
    javac = _java_tool("javac")
    if javac is None:
        raise JavaNotFoundError(
            "the Flink runner compiles its Java helpers (runners/flink/java) at first use and "
            f"found no javac (a Java runtime without the compiler is not enough): {_INSTALL_JDK}"
        )
    return javac


def pyflink_home() -> pathlib.Path:
    """The installed ``pyflink`` package directory (its ``lib/`` and ``opt/`` hold Flink's jars)."""
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise FluvialError(
            "the Flink runner needs the Python package 'pyflink', which is not installed; "
            "install it with: pip install 'fluvial[flink]'"
        )
    return pathlib.Path(spec.origin).parent


def pyflink_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("apache-flink")
    except metadata.PackageNotFoundError:  # pragma: no cover - pyflink without its metadata
        return "unknown"


def java_sources() -> list[pathlib.Path]:
    """The Java sources, in a stable order."""
    return sorted(JAVA_DIR.rglob("*.java"))


def source_key(flink_version: str) -> str:
    """The cache key: a hash of the sources (paths and bytes), the Flink version and the
    target release."""
    h = hashlib.sha256()
    h.update(f"release={RELEASE};flink={flink_version};".encode())
    for path in java_sources():
        h.update(str(path.relative_to(JAVA_DIR)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def cache_root() -> pathlib.Path:
    explicit = os.environ.get("FLUVIAL_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "fluvial"


def _pack(classes: pathlib.Path, jar: pathlib.Path) -> None:
    """A jar of ``classes`` whose bytes depend only on the class files."""
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("META-INF/MANIFEST.MF", _ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, _MANIFEST)
        for path in sorted(classes.rglob("*.class")):
            info = zipfile.ZipInfo(path.relative_to(classes).as_posix(), _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, path.read_bytes())


def build_jar(dest: pathlib.Path, flink_home: pathlib.Path | None = None,
              sources: list[pathlib.Path] | None = None,
              extra_classpath: tuple[str, ...] = (),
              substitutions: dict[str, str] | None = None) -> pathlib.Path:
    """Compile the sources (default: :func:`java_sources`) into the jar ``dest`` (replaced
    atomically), against pyflink's jars and ``extra_classpath``; each key of ``substitutions``
    is replaced by its value in the sources first."""
    javac = find_javac()
    home = flink_home or pyflink_home()
    classpath = os.pathsep.join([*(str(home / d / "*") for d in ("lib", "opt")), *extra_classpath])
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=dest.parent) as tmp:
        files = list(sources if sources is not None else java_sources())
        if substitutions:
            src = pathlib.Path(tmp) / "src"
            copies = []
            for i, path in enumerate(files):
                text = path.read_text(encoding="utf-8")
                for k, v in substitutions.items():
                    text = text.replace(k, v)
                copy = src / str(i) / path.name
                copy.parent.mkdir(parents=True)
                copy.write_text(text, encoding="utf-8")
                copies.append(copy)
            files = copies
        classes = pathlib.Path(tmp) / "classes"
        classes.mkdir()
        cmd = [javac, "--release", RELEASE, "-nowarn", "-encoding", "UTF-8", "-cp", classpath,
               "-d", str(classes), *map(str, files)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise FluvialError(
                f"compiling the Flink runner's Java helpers failed (javac exit {proc.returncode}, "
                f"JDK at {javac}; javac 11 or newer is needed):\n{proc.stderr.strip()}"
            )
        tmp_jar = pathlib.Path(tmp) / "out.jar"
        _pack(classes, tmp_jar)
        os.replace(tmp_jar, dest)
    return dest


def runtime_jar() -> pathlib.Path:
    """The jar of fluvial's Java helpers for the installed pyflink: from the cache, or built now
    (a few seconds) when missing."""
    key = source_key(pyflink_version())
    jar = cache_root() / "flink-java" / key / f"fluvial-flink-{key}.jar"
    if jar.is_file():
        return jar
    return build_jar(jar)
