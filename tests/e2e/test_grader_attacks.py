"""A student who read course_lib/grader/sandbox.py attacks `course grade`, as root and as an ordinary user.

A class of three for chapter 04 graded by `python -m course_lib.cli grade` in a
process of its own: two classmates with the reference answers, and an attacker
whose first answer cell

(a) unmounts every mount it sees, remounts / read-write and mounts a tmpfs,
    then writes into the classmates' submitted files, the solutions and every
    gradebook it can find;
(b) replaces ./04_self_attention.ipynb in its working folder by a symlink to a
    classmate's submitted file, then by a FIFO, and leaves more symlinks and
    FIFOs there and in its socket folder (nbgrader, outside, writes the graded
    notebook after the kernel ends: once through the link, and a FIFO hung the
    whole class);
(c) asks for 20 GiB of memory.

The classmates keep full marks and byte-identical files, the solutions do not
change, and the class finishes within a bound (no hang). Graded once as root
(the grader keeps no privileges in the kernel: it runs as nobody) and once as
an ordinary user (when the tests run as root: an unprivileged uid through
setpriv, in a private mount namespace where root's home is hidden except the
Python installation).
"""
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course_lib import grader
from course_lib.grader import sandbox

ROOT = Path(__file__).resolve().parents[2]
UNPRIVILEGED = 4242  # an ordinary user's uid when the tests run as root
# the whole class of three, graded in one run: measured 130 s on 2 busy cores (other test runs beside it);
# a FIFO or a hang would block it until the subprocess timeout
# a hang guard, not a speed test: no class stops on a FIFO (each notebook has its own overall limit)
BOUND_SECONDS = 1800

if sandbox.unavailable_reason() is not None:
    if os.environ.get("COURSE_REQUIRE_SANDBOX"):
        pytest.fail(f"COURSE_REQUIRE_SANDBOX is set but {sandbox.unavailable_reason()}", pytrace=False)
    pytest.skip(f"no sandbox on this machine: {sandbox.unavailable_reason()}", allow_module_level=True)

PAYLOAD = r'''import ctypes, glob, os
_libc = ctypes.CDLL(None, use_errno=True)
_found = {}
for _line in open("/proc/self/mountinfo").read().splitlines()[::-1]:
    _point = _line.split()[4]
    _found["umount " + _point] = _libc.umount2(_point.encode(), 2)
_found["remount / rw"] = _libc.mount(None, b"/", None, 32 | 4096, None)
_found["mount tmpfs"] = _libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)
_targets = (glob.glob("SUBMITTED/*/04_self_attention/*.ipynb") + glob.glob("/tmp/course-grade-*/submitted/*/*/*.ipynb")
            + glob.glob("/tmp/course-grade-*/gradebook.db") + glob.glob("SOLUTIONS/*/*.ipynb")
            + glob.glob("GRADEBOOK") + glob.glob("CANARY") + ["SUBMITTED/bob/04_self_attention/04_self_attention.ipynb"])
for _target in _targets:
    try:
        with open(_target, "ab") as _handle:
            _handle.write(b"pwned")
        _found["wrote " + _target] = True
    except OSError as _error:
        _found["wrote " + _target] = type(_error).__name__
_own = "04_self_attention.ipynb"
for _make in (lambda: os.symlink("SUBMITTED/bob/04_self_attention/04_self_attention.ipynb", _own),
              lambda: os.mkfifo(_own)):
    try:
        os.remove(_own)
    except OSError:
        pass
    try:
        _make()
    except OSError:
        pass
for _name, _make in (("evil-link", lambda p: os.symlink("SUBMITTED/carol/04_self_attention/04_self_attention.ipynb", p)),
                     ("evil-fifo", os.mkfifo), ("/run/kernel/evil-fifo", os.mkfifo),
                     ("/run/kernel/evil-link", lambda p: os.symlink("/", p))):
    try:
        _make(_name)
    except OSError:
        pass
try:
    _hog = bytearray(20 << 30)
    _found["20 GiB"] = True
except MemoryError:
    _found["20 GiB"] = "MemoryError"
print("ATTACK", _found)
'''


def _digest(folder: Path) -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_class(where: Path, payload: str) -> Path:
    chapter = grader.find_chapter("04")
    release = grader.read_notebook(chapter.release)
    reference = grader.reference_answers(chapter)
    first = chapter.exercises()[0].solution_ids[0]
    answers = {"aaron": dict(reference, **{first: payload + reference[first]}), "bob": reference, "carol": reference}
    submitted = where / "submitted"
    for student, chosen in answers.items():
        folder = submitted / student / chapter.name
        folder.mkdir(parents=True)
        grader.write_notebook(grader.fill_answers(release, chosen), folder / f"{chapter.name}.ipynb")
    return submitted


def _grade_the_class(as_root: bool):
    chapter = grader.find_chapter("04")
    work = Path(tempfile.mkdtemp(prefix="course-attack-"))
    # a gradebook of the course's own that this test owns: other tests running beside this one may create or
    # update the instructor's gradebook.db (the Lab's formgrader), so that one is checked for the attack's mark
    canary = ROOT / ".course" / f"gradebook-canary-{os.getpid()}.db"
    try:
        canary.parent.mkdir(exist_ok=True)
        canary.write_bytes(b"SQLite format 3\x00 the instructor's grades")
        payload = (PAYLOAD.replace("SUBMITTED", str(work / "submitted")).replace("SOLUTIONS", str(ROOT / "solutions"))
                   .replace("GRADEBOOK", str(ROOT / "gradebook.db")).replace("CANARY", str(canary)))
        submitted = _write_class(work, payload)
        out = work / "grades.csv"
        home = work / "home"
        home.mkdir()
        env = grader.environment_with_commands()
        env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        for name in ("COURSE_NO_SANDBOX", "JUPYTER_RUNTIME_DIR", "JUPYTER_PATH"):
            env.pop(name, None)
        command = [sys.executable, "-m", "course_lib.cli", "grade", "04", "--submitted", str(submitted),
                   "--out", str(out)]
        if os.geteuid() == 0 and not as_root:
            # an ordinary user: its own HOME, the work folder its own, and root's home hidden (a private mount
            # namespace: a tmpfs over /root with only the Python installation brought back)
            for path in [work, *work.rglob("*")]:
                os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
            env.update(HOME=str(home), USER="learner", LOGNAME="learner", TMPDIR="/tmp")
            env.pop("MPLCONFIGDIR", None)
            python_home = Path(sys.base_prefix).resolve()
            script = ""
            if Path("/root") in python_home.parents:
                script = ('set -e; mkdir -p "$1"; mount --bind "$2" "$1"; mount -t tmpfs -o mode=0755 tmpfs /root; '
                          'mkdir -p "$2"; mount --bind "$1" "$2"; ')
            script += 'shift 2; exec setpriv --reuid=%d --regid=%d --clear-groups "$@"' % (UNPRIVILEGED, UNPRIVILEGED)
            stage = work / "python-stage"
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(stage),
                       str(python_home), *command]
        before = _digest(submitted)
        solutions_before = _digest(ROOT / "solutions" / chapter.name)
        gradebook = ROOT / "gradebook.db"
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BOUND_SECONDS)
        seconds = time.monotonic() - started
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
        assert "Sandbox: the graded code ran under bubblewrap" in done.stdout, done.stdout
        rows = {row["student"]: row for row in csv.DictReader(out.open())}
        full = f"{chapter.points:g}"
        for student in ("bob", "carol"):
            assert rows[student]["total"] == full and rows[student]["flagged"] == "", rows[student]
            assert "graded again" not in rows[student]["notes"], rows[student]
        assert "gradebook says" not in rows["aaron"]["notes"], rows["aaron"]
        # nothing of the machine changed: the submissions, the solutions, the course's gradebook
        assert _digest(submitted) == before
        assert _digest(ROOT / "solutions" / chapter.name) == solutions_before
        assert canary.read_bytes() == b"SQLite format 3\x00 the instructor's grades"
        assert not (gradebook.exists() and gradebook.read_bytes().endswith(b"pwned"))
        return seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)
        canary.unlink(missing_ok=True)


def test_an_attacker_in_a_class_graded_by_root():
    if os.geteuid() != 0:
        pytest.skip("the tests do not run as root here")
    _grade_the_class(as_root=True)


def test_an_attacker_in_a_class_graded_by_an_ordinary_user():
    if os.geteuid() == 0 and (shutil.which("setpriv") is None or shutil.which("unshare") is None):
        pytest.skip("setpriv and unshare are needed to grade as an ordinary user from root")
    _grade_the_class(as_root=False)
