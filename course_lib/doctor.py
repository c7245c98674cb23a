"""`course doctor`: the versions and settings a learner's environment has, and what to fix in it."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from . import grader
from .grader import CourseError


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def diagnose() -> int:
    """Print versions and settings, and what to fix for each problem found."""
    problems: list[str] = []
    print(f"python      {sys.version.split()[0]}  ({sys.executable})")
    for package in ("torch", "nbgrader", "nbval", "jupyterlab", "numpy", "matplotlib", "safetensors", "tqdm"):
        print(f"{package:<11} {_version(package)}")
    if sys.version_info < (3, 11):
        problems.append("Python 3.11 or newer is needed: recreate .venv with a newer python3")

    try:
        import torch

        from . import get_device

        device = get_device()
        print(f"device      {device}  (torch threads: {torch.get_num_threads()})")
    except Exception as error:  # a broken torch install is exactly what doctor is for
        problems.append(f"torch does not import ({error}): run `make clean-venv lab` to reinstall")

    try:
        root = grader.course_root()
        print(f"course      {root}")
    except CourseError as error:
        root = None
        problems.append(str(error))

    # The autograder starts the kernel called python3: it must be this
    # interpreter, or course_lib and torch will be missing inside it.
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
        kernel_python = spec.argv[0]
        print(f"kernel      python3 -> {kernel_python}")
        if kernel_python not in ("python", "python3", sys.executable) and Path(kernel_python).resolve() != Path(sys.executable).resolve():
            problems.append(
                f"the python3 kernel runs {kernel_python}, not this environment's {sys.executable}: "
                f"remove {spec.resource_dir} or run `{sys.executable} -m ipykernel install --sys-prefix`"
            )
    except Exception as error:
        problems.append(f"no python3 Jupyter kernel ({error}): run `{sys.executable} -m ipykernel install --sys-prefix`")

    # nbgrader's exchange-based student extensions log errors when no exchange
    # exists; this course is distributed by git, so they should be off.
    listing = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"],
                             capture_output=True, text=True)
    text = listing.stdout + listing.stderr
    for extension in ("formgrader", "assignment_list", "course_list"):
        line = next((entry for entry in text.splitlines() if f"nbgrader.server_extensions.{extension} " in entry), "")
        state = "enabled" if "enabled" in line else "disabled" if "disabled" in line else "missing"
        print(f"nbgrader    {extension}: {state}")
        if extension == "formgrader" and state != "enabled":
            problems.append("the formgrader is not enabled: run `make lab` once to set up the environment")
        if extension != "formgrader" and state == "enabled":
            problems.append(f"nbgrader's {extension} extension is on (it needs an exchange this course does not use): "
                            f"run `jupyter server extension disable --sys-prefix nbgrader.server_extensions.{extension}`")

    if root is not None:
        for chapter in grader.chapters(root):
            if not chapter.release.exists():
                problems.append(f"{chapter.release.relative_to(root)} is missing: run `course reset {chapter.number}`")

    if problems:
        print("\nTo fix:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("\nAll good.")
    return 0
