"""The autograder's kernel in a sandbox, and a kernel that ignores interrupts stopped.

Graded code runs as the person who grades it, so without a sandbox an answer
cell can read the hidden tests and reference answers (solutions/, git's
history), write the gradebook, or rewrite another student's submission before
it is graded. On Linux with bubblewrap (Debian's `bubblewrap` package), the
grader starts each kernel through `python -m course_lib.sandbox`, which runs
it under `bwrap`:

- the whole file system read-only, so nothing outside the kernel's own
  folder can be changed: not the gradebook, not another submission, not the
  learner's home (where an IPython startup file would run in every later
  kernel);
- the course clone hidden except what a notebook needs (course_lib with its
  data, the checkpoints, a virtual environment inside the clone), and so
  solutions/, .git, notebooks/, submitted/ and the instructor's gradebook;
- the grading folder hidden except the kernel's own copy of the submission,
  the only writable place besides a private /tmp;
- Jupyter's runtime folder hidden except the kernel's connection file (a
  running Lab's token there would let code drive the server);
- its own process namespace, so it cannot see whose command line started it
  (the learner's file name) or signal anyone else, and it dies with its parent.

The network stays shared: the kernel talks to the grader over localhost TCP
(Jupyter's protocol), so a kernel could still reach other local services.

Where bwrap is missing or cannot create namespaces (macOS, Windows, a
container without them), grading runs without a sandbox and says so.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

KERNEL_NAME = "course-sandbox"
ROOT = Path(__file__).resolve().parent.parent
# what a notebook needs from the clone; everything else there is hidden
NEEDED_FROM_CLONE = ("course_lib", "checkpoints")


# --------------------------------------------------------------------------
# Is there a sandbox here?
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when kernels can run under bwrap here, else why not (one line)."""
    if os.environ.get("COURSE_NO_SANDBOX"):
        return "COURSE_NO_SANDBOX is set"
    if not sys.platform.startswith("linux"):
        return f"bubblewrap runs on Linux only (this is {sys.platform})"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed (Debian/Ubuntu: apt install bubblewrap)"
    trial = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
                            "--die-with-parent", "true"], capture_output=True, text=True)
    if trial.returncode != 0:
        detail = (trial.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bwrap cannot create a sandbox here ({detail[:160]})"
    return None


def available() -> bool:
    return unavailable_reason() is None


def write_kernelspec(folder: Path, grading_root: Path, hide: list[Path] = ()) -> Path:
    """Write the sandboxed kernel's spec under folder/kernels/; return `folder` (for JUPYTER_PATH).

    `grading_root` is the throw-away nbgrader course: hidden from each kernel
    except the kernel's own working folder. `hide` adds paths outside the
    clone that no kernel may read (the learner's own file for `course check`).
    """
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "course_lib.sandbox", "--", sys.executable, "-m", "ipykernel_launcher",
                 "-f", "{connection_file}"],
        "display_name": "Python 3 (course sandbox)",
        "language": "python",
        "env": {"COURSE_SANDBOX_GRADING_ROOT": str(Path(grading_root).resolve()),
                "COURSE_SANDBOX_HIDE": os.pathsep.join(str(Path(p).resolve()) for p in hide)},
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder


def configure(c, grading_root: str | Path, hide: list[str | Path] = ()) -> None:
    """Set up an nbgrader config `c` so that autograde grades as `course grade` does.

    Called from nbgrader_config.py (the course's own, which the formgrader's
    Autograde button and `nbgrader autograde` read, and the throw-away one of
    each grading run): nbgrader's executor becomes GuardedExecute and, where
    bwrap works, every kernel starts in the sandbox. The kernel spec is written
    under grading_root/.course/jupyter and put first on JUPYTER_PATH for this
    process (nbgrader looks kernels up there).
    """
    from nbgrader.converters.autograde import Autograde

    from . import executor

    c.Autograde.autograde_preprocessors = [
        executor.guarded_execute() if p.__name__ == "Execute" else p
        for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    if available():
        folder = write_kernelspec(Path(grading_root) / ".course" / "jupyter", Path(grading_root), list(hide))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("JUPYTER_PATH")]))
        c.Execute.kernel_name = KERNEL_NAME


# --------------------------------------------------------------------------
# Starting a kernel inside it
# --------------------------------------------------------------------------

def _hide(path: Path) -> list[str]:
    if path.is_dir():
        return ["--tmpfs", str(path)]
    if path.exists():
        return ["--ro-bind", "/dev/null", str(path)]
    return []


def bwrap_arguments(kernel_argv: list[str], workdir: Path, grading_root: Path | None, hide: list[Path]) -> list[str]:
    """The bwrap command line that runs `kernel_argv` with only `workdir` writable."""
    workdir = workdir.resolve()
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    # Later mounts cover earlier ones: hide first, then bring back what a notebook needs.
    args += _hide(ROOT)
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        args += _hide(Path(jupyter_runtime_dir()).resolve())
    except Exception:
        pass
    for path in hide:
        args += _hide(Path(path))
    if grading_root is not None:
        args += _hide(Path(grading_root))
    for name in NEEDED_FROM_CLONE:
        if (ROOT / name).exists():
            args += ["--ro-bind", str(ROOT / name), str(ROOT / name)]
    # Python and its packages, wherever they are (a virtual environment inside the clone, a clone
    # under /tmp), unless that would show a hidden folder again.
    secret = [ROOT, *(Path(p).resolve() for p in hide)] + ([Path(grading_root).resolve()] if grading_root else [])
    python_paths = {Path(p).resolve() for p in [sys.prefix, sys.base_prefix, *sys.path] if p and Path(p).is_dir()}
    bound: list[Path] = []
    for path in sorted(python_paths):  # parents first, so a folder inside one already bound is skipped
        if not any(s == path or path in s.parents for s in secret) and not any(b in path.parents for b in bound):
            args += ["--ro-bind", str(path), str(path)]
            bound.append(path)
    args += ["--bind", str(workdir), str(workdir)]
    if "-f" in kernel_argv:  # the connection file, wherever it lies
        connection = Path(kernel_argv[kernel_argv.index("-f") + 1]).resolve()
        args += ["--ro-bind", str(connection), str(connection)]
    args += ["--chdir", str(workdir),
             # a fresh IPython profile (no startup files) and a private matplotlib cache
             "--setenv", "IPYTHONDIR", "/tmp/ipython", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
             "--unsetenv", "COURSE_SANDBOX_GRADING_ROOT", "--unsetenv", "COURSE_SANDBOX_HIDE",
             # ipykernel polls this pid and exits when it is not its parent, which inside a pid
             # namespace it never is; --die-with-parent does that job here
             "--unsetenv", "JPY_PARENT_PID"]
    font_cache = _matplotlib_font_cache()
    if font_cache is not None:  # read-only, copied in below: building it again costs seconds per kernel
        args += ["--ro-bind", str(font_cache), f"/tmp/.matplotlib-font-cache/{font_cache.name}"]
    return args + ["--", sys.executable, "-m", "course_lib.sandbox", "--inside", "--", *kernel_argv]


def _matplotlib_font_cache() -> Path | None:
    try:
        import matplotlib

        cache = Path(matplotlib.get_cachedir())
    except Exception:
        return None
    found = sorted(cache.glob("fontlist-v*.json"))
    return found[-1] if found else None


def _inside(kernel_argv: list[str]) -> None:
    Path("/tmp/matplotlib").mkdir(exist_ok=True)
    for cached in Path("/tmp/.matplotlib-font-cache").glob("*.json"):
        shutil.copy(cached, Path("/tmp/matplotlib") / cached.name)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(kernel_argv[0], kernel_argv)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    inside = argv[:1] == ["--inside"]
    if inside:
        argv = argv[1:]
    if argv[:1] != ["--"] or len(argv) < 2:
        raise SystemExit("usage: python -m course_lib.sandbox -- KERNEL COMMAND...")
    kernel_argv = argv[1:]
    if inside:
        _inside(kernel_argv)
        return
    hide = [Path(p) for p in os.environ.get("COURSE_SANDBOX_HIDE", "").split(os.pathsep) if p]
    root = os.environ.get("COURSE_SANDBOX_GRADING_ROOT")
    args = bwrap_arguments(kernel_argv, Path.cwd(), Path(root) if root else None, hide)
    # Through a pipe, not the command line: inside, /proc/1/cmdline is bwrap's, and it would
    # name the hidden paths (the learner's own file among them).
    # The kernel is interrupted by SIGINT to its whole process group: bwrap, outside, must
    # ignore it (its default is to die, and the kernel would die with it); the kernel gets
    # the default back below, inside.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    options, command = args[1:args.index("--")], args[args.index("--"):]
    read_end, write_end = os.pipe()
    os.write(write_end, b"".join(a.encode() + b"\0" for a in options))
    os.close(write_end)
    os.set_inheritable(read_end, True)
    os.execv(args[0], [args[0], "--args", str(read_end), *command])


if __name__ == "__main__":
    main()
