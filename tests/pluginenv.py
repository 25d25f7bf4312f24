"""Real plugin distributions in real virtual environments, for tests.

A test describes a plugin as source files plus entry points; ``build_wheel``
turns it into a wheel with setuptools (as ``pip wheel`` would for any plugin
author), and ``PluginVenv`` pip-installs wheels into a fresh venv. Nothing
patches ``entry_points()``: discovery sees exactly what pip installed.

The venv gets shimtask_core's runtime dependencies by linking the already
installed import packages (no network, no distribution metadata), so the only
distributions it holds are the ones a test installs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Import packages the core needs at run time, linked into every test venv.
_RUNTIME_PACKAGES = ("pluggy", "google", "flyteidl", "fsspec", "shimtask_core")
_OPTIONAL_PACKAGES = ("pyarrow", "msgpack", "numpy", "pandas", "dateutil", "pytz", "tzdata",
                      "six", "typing_extensions",
                      "grpc", "grpc_health", "prometheus_client")  # shimtask-core[serve]


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin else None


def build_wheel(
    out_dir: Path,
    dist: str,
    *,
    modules: Mapping[str, str],
    executors: Mapping[str, str] | None = None,
    plugins: Mapping[str, str] | None = None,
    version: str = "1.0.0",
) -> Path:
    """Build a wheel for a plugin distribution; returns the wheel's path.

    ``modules`` maps module file names (``"my_plugin.py"``) to source text;
    ``executors``/``plugins`` map entry-point names to ``module:attr``.
    """
    src = out_dir / "src" / f"{dist}-{version}"
    src.mkdir(parents=True, exist_ok=True)
    for filename, text in modules.items():
        path = src / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    module_names = sorted({f.split("/")[0].removesuffix(".py") for f in modules})
    eps = ""
    for group, table in (("shimtask.executors", executors), ("shimtask.plugins", plugins)):
        if table:
            eps += f'\n[project.entry-points."{group}"]\n'
            eps += "".join(f'"{k}" = "{v}"\n' for k, v in table.items())
    flat = [m for m in module_names if (src / f"{m}.py").exists()]
    packages = [m for m in module_names if (src / m).is_dir()]
    (src / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "{version}"
            requires-python = ">=3.10"
            {eps}
            [tool.setuptools]
            py-modules = {flat!r}
            packages = {packages!r}
            """
        )
    )
    wheels = out_dir / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(wheels), str(src)],
        check=True, capture_output=True, text=True,
    )
    normalized = dist.replace("-", "_")
    (wheel,) = wheels.glob(f"{normalized}-{version}-*.whl")
    return wheel


class PluginVenv:
    """A fresh virtual environment holding only the distributions a test installs."""

    def __init__(self, root: Path, *, without: Sequence[str] = ()) -> None:
        """``without``: optional packages not to link (pyarrow imports pandas whenever
        it can, so a venv meant to be what a user installs may leave it out)."""
        self.root = root
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = root / "bin" / "python"
        self.site_packages = Path(
            subprocess.run(
                [str(self.python), "-c",
                 "import sysconfig; print(sysconfig.get_path('purelib'))"],
                check=True, capture_output=True, text=True,
            ).stdout.strip()
        )
        for name in _RUNTIME_PACKAGES + tuple(p for p in _OPTIONAL_PACKAGES if p not in without):
            target = _package_dir(name)
            if target is not None and target.exists():
                link = self.site_packages / target.name
                if not link.exists():
                    link.symlink_to(target, target_is_directory=target.is_dir())
        self._write_console_script()

    def link_distributions(self, *names: str) -> None:
        """Make installed distributions and everything they require importable here.

        For optional stacks a test needs in its subprocesses (``s3fs``: aiobotocore,
        botocore, aiohttp, ...): their files and metadata are linked from this
        interpreter's environment, without a network, so their ``importlib.metadata``
        lookups work as in a pip install.
        """
        import importlib.metadata as md
        import re

        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
            if name in seen:
                continue
            seen.add(name)
            try:
                dist = md.distribution(name)
            except md.PackageNotFoundError:
                continue  # an optional requirement that is not installed
            for requirement in dist.requires or ():
                if "extra ==" in requirement:
                    continue
                todo.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
            tops = {Path(str(f)).parts[0] for f in dist.files or ()
                    if not str(f).startswith("..") and "__pycache__" not in str(f)}
            for top in tops:
                target = Path(str(dist.locate_file(top)))
                link = self.site_packages / top
                if target.exists() and not link.exists() and not top.endswith(".pth"):
                    link.symlink_to(target, target_is_directory=target.is_dir())

    def _write_console_script(self) -> None:
        script = self.root / "bin" / "shimtask"
        script.write_text(
            f"#!{self.python}\nimport sys\nfrom shimtask_core.cli import main\n"
            f"sys.exit(main())\n"
        )
        script.chmod(0o755)

    def install(self, *wheels: Path) -> None:
        """pip-install wheels (no dependencies: the runtime is already linked)."""
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "install",
             "--no-deps", "--no-index", "-q", *map(str, wheels)],
            check=True, capture_output=True, text=True,
        )

    def uninstall(self, *dists: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "uninstall", "-y", "-q",
             *dists],
            check=True, capture_output=True, text=True,
        )

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIMTASK_", "PYTHON"))}
        env["SHIMTASK_CACHE_DIR"] = str(self.root / "cache")
        env.update(extra or {})
        return env

    def run(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command with this venv's ``bin`` first on PATH."""
        full_env = self.env(env)
        full_env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{full_env.get('PATH', '')}"
        return subprocess.run(
            [str(a) for a in args], env=full_env, cwd=cwd, capture_output=True, text=True,
            check=check, timeout=120,
        )

    def shimtask(self, *args: str | Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.run([self.root / "bin" / "shimtask", *args], env=env, cwd=cwd)

    def python_code(self, code: str, *, env: Mapping[str, str] | None = None
                    ) -> subprocess.CompletedProcess[str]:
        return self.run([self.python, "-c", textwrap.dedent(code)], env=env)


def wheel_from_source(out_dir: Path, source: Path, dist: str) -> Path:
    """Build the wheel of a source tree that has its own pyproject.toml."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(out_dir), str(source)],
        check=True, capture_output=True, text=True,
    )
    normalized = dist.replace("-", "_")
    return max(out_dir.glob(f"{normalized}-*.whl"), key=lambda p: p.stat().st_mtime)


def repo_plugin_wheel(out_dir: Path, plugin_dir: str) -> Path:
    """Build the wheel of one of this repository's own plugins (``plugins/<dist>``)."""
    return wheel_from_source(out_dir, REPO / "plugins" / plugin_dir, plugin_dir)


def repo_plugin_venv(root: Path, plugin_dir: str) -> PluginVenv:
    """A fresh venv under ``root`` with one of this repository's plugins pip-installed from
    its wheel, as ``pip install ./plugins/<dist>`` leaves it."""
    env = PluginVenv(root / "env")
    env.install(repo_plugin_wheel(root / "wheels", plugin_dir))
    return env


def site_packages_of_current() -> str:
    return sysconfig.get_path("purelib")
