"""The grading sandbox: what code in a graded notebook can and cannot reach.

Each test starts a process exactly as the grader starts a kernel (`python -m
course_lib.grader.sandbox -- COMMAND` in the kernel's working folder, with the
grading folder and the learner's file named as the kernel spec names them)
and lets it try what a student's payload tried. Where bubblewrap cannot run
(macOS, a container without namespaces) these tests skip, and the grader
says so on every run; CI sets COURSE_REQUIRE_SANDBOX=1 so a missing sandbox
fails there.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import cli
from course_lib.grader import sandbox

ROOT = Path(__file__).resolve().parents[2]

if sandbox.unavailable_reason() is not None:
    if os.environ.get("COURSE_REQUIRE_SANDBOX"):
        pytest.fail(f"COURSE_REQUIRE_SANDBOX is set but {sandbox.unavailable_reason()}", pytrace=False)
    pytest.skip(f"no sandbox on this machine: {sandbox.unavailable_reason()}", allow_module_level=True)

PROBE = r'''
import glob, json, os, pathlib, sys
root = pathlib.Path(sys.argv[1]); grading_root = pathlib.Path(sys.argv[2]); secret = pathlib.Path(sys.argv[3])
found = {}
def attempt(name, action):
    try:
        found[name] = repr(action())[:200]
    except Exception as error:
        found[name] = "BLOCKED " + type(error).__name__
attempt("read solutions", lambda: sorted(os.listdir(root / "solutions")))
attempt("read git history", lambda: os.listdir(root / ".git"))
attempt("read the learner's notebooks", lambda: os.listdir(root / "notebooks"))
attempt("write the course gradebook", lambda: open(root / "gradebook.db", "ab").write(b"x"))
attempt("write the home folder", lambda: open(pathlib.Path.home() / ".course-sandbox-probe", "w").write("x"))
attempt("list the grading folder", lambda: sorted(glob.glob(str(grading_root / "*"))))
attempt("read another submission", lambda: (grading_root / "submitted" / "bob" / "nb.ipynb").read_text())
attempt("read the learner's file", lambda: secret.read_text())
attempt("processes' command lines", lambda: " ".join(open(f"/proc/{p}/cmdline").read()
                                                     for p in os.listdir("/proc") if p.isdigit()))
attempt("write its own folder", lambda: open("own.txt", "w").write("x"))
attempt("read its data", lambda: open("data.txt").read())
attempt("import the course and torch", lambda: __import__("course_lib.checks") and __import__("torch").__version__)
attempt("read the checkpoints", lambda: len((pathlib.Path(__import__("course_lib").__file__).parent.parent
                                             / "checkpoints" / "gpt.json").read_text()) > 0)
print(json.dumps(found))
'''


def _sandboxed(command, cwd, grading_root, hide, **kwargs):
    policy = sandbox.write_policy(grading_root, hide)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "course_lib.grader.sandbox", "--policy", str(policy), "--",
                             sys.executable, *command], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture
def grading_folder(tmp_path):
    own = tmp_path / "course" / "autograded" / "alice" / "04_self_attention"
    own.mkdir(parents=True)
    other = tmp_path / "course" / "submitted" / "bob"
    other.mkdir(parents=True)
    (other / "nb.ipynb").write_text("bob's answers")
    secret = tmp_path / "elsewhere" / "my_notebook.ipynb"
    secret.parent.mkdir()
    secret.write_text("the learner's own file")
    return tmp_path / "course", own, secret


def test_a_kernel_reaches_only_its_own_folder(grading_folder):
    course, own, secret = grading_folder
    (own / "data.txt").write_text("the chapter's data")
    gradebook = ROOT / "gradebook.db"
    before = gradebook.read_bytes() if gradebook.exists() else None
    process = _sandboxed(["-c", PROBE, str(ROOT), str(course), str(secret)], own, course, [secret])
    found = json.loads(process.communicate(timeout=120)[0])

    for blocked in ("read solutions", "read git history", "read the learner's notebooks",
                    "read another submission", "read the learner's file", "write the course gradebook"):
        assert found[blocked].startswith("BLOCKED"), (blocked, found[blocked])
    assert found["list the grading folder"] == "[]", found
    # its home and its own folder are private tmpfs: what it writes there never reaches the machine
    assert (gradebook.read_bytes() if gradebook.exists() else None) == before
    assert not (Path.home() / ".course-sandbox-probe").exists()
    assert not (own / "own.txt").exists() and found["write its own folder"] == "1"
    assert found["read its data"] == repr("the chapter's data"), found
    # the paths to hide travel in a pipe, so no command line names the learner's file
    assert "my_notebook" not in found["processes' command lines"], found["processes' command lines"]
    # and what a notebook needs still works
    assert not found["import the course and torch"].startswith("BLOCKED"), found
    assert found["read the checkpoints"] == "True", found


KERNEL_PROBE = r'''
import ctypes, json, os, pathlib, resource, socket
found = {"uid": os.getuid(), "pid": os.getpid(), "cwd": os.getcwd()}
found["CapEff"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
found["limits"] = {name: resource.getrlimit(getattr(resource, name))[0]
                   for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_CORE")}
found["interfaces"] = sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:])
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=3).close()
    found["tcp"] = "connected"
except OSError as error:
    found["tcp"] = "BLOCKED " + type(error).__name__
libc = ctypes.CDLL(None, use_errno=True)
found["umount2 /opt/course"] = libc.umount2(b"/opt/course/course_lib", 2)
found["remount / rw"] = libc.mount(None, b"/", None, 32 | 4096, None)
found["mountinfo"] = open("/proc/self/mountinfo").read()
found["environment"] = json.dumps(dict(os.environ))
found["runtime"] = os.path.exists(RUNTIME)
print("PROBE" + json.dumps(found))
'''


def _run_in_kernel(kc, code):
    printed = []
    kc.execute_interactive(code, timeout=120, output_hook=lambda m: printed.append(m["content"].get("text", "")))
    return "".join(printed)


def test_the_kernel_has_no_privileges_no_network_and_limits(tmp_path):
    """The kernel as nbgrader starts it (the sandbox's kernel spec and configure's ipc transport):
    not root, no capabilities, no way to unmount or remount, no network, the limits set, and a
    mount table that names none of the grading folder, the submissions, solutions/ or the learner's file."""
    import socket

    from jupyter_client import KernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets.config import Config

    course = tmp_path / "course-grade-probe"
    own = course / "autograded" / "alice" / "04_self_attention"
    own.mkdir(parents=True)
    submitted = tmp_path / "submitted"
    (submitted / "bob").mkdir(parents=True)
    secret = tmp_path / "learner" / "my_notebook.ipynb"
    secret.parent.mkdir()
    secret.write_text("{}")
    config = Config()
    saved = dict(os.environ)
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        sandbox.write_policy(course, [submitted, secret])
        sandbox.configure(config, course)
        assert config.KernelManager.transport == "ipc"
        os.chdir(own)
        km = KernelManager(kernel_name=sandbox.KERNEL_NAME, config=config)
        km.start_kernel(env=dict(os.environ, PYTHONPATH=str(ROOT)))
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        code = KERNEL_PROBE.replace("PORT", str(listener.getsockname()[1])).replace(
            "RUNTIME", repr(jupyter_runtime_dir()))
        found = json.loads(_run_in_kernel(kc, code).split("PROBE", 1)[1])
        # a second client, in another process, from the kernel manager's connection info
        info = {k: v.decode() if isinstance(v, bytes) else v for k, v in km.get_connection_info().items()}
        second = subprocess.run([sys.executable, "-c", f"""
from jupyter_client import BlockingKernelClient
kc = BlockingKernelClient()
kc.load_connection_info({info!r})
kc.start_channels()
kc.wait_for_ready(timeout=30)
kc.execute_interactive("print('second client', 6 * 7)", timeout=30)
"""], capture_output=True, text=True, timeout=90)
        kc.stop_channels()
        km.shutdown_kernel()
    finally:
        os.chdir(ROOT)
        os.environ.clear()
        os.environ.update(saved)
        listener.close()
    assert "second client 42" in second.stdout, second.stderr[-2000:]
    assert found["uid"] != 0 and found["CapEff"] == "0000000000000000", found
    assert found["umount2 /opt/course"] == -1 and found["remount / rw"] == -1
    chosen = sandbox.limits()
    assert found["limits"] == {"RLIMIT_AS": chosen["memory"], "RLIMIT_CPU": chosen["cpu_seconds"],
                               "RLIMIT_FSIZE": chosen["file_size"], "RLIMIT_NPROC": chosen["processes"],
                               "RLIMIT_NOFILE": chosen["open_files"], "RLIMIT_CORE": 0}, found["limits"]
    assert found["interfaces"] == ["lo"] and found["tcp"].startswith("BLOCKED"), found
    assert found["cwd"] == "/home/learner/04_self_attention"
    assert found["runtime"] is False
    for named in (course, submitted, secret, ROOT / "solutions", tmp_path):
        assert str(named) not in found["mountinfo"], (named, found["mountinfo"])
        assert str(named) not in found["environment"], (named, found["environment"])


def test_an_interrupt_reaches_the_kernel_and_only_the_kernel(grading_folder):
    """The grader interrupts a cell past its timeout with SIGINT to the kernel's process group:
    the sandboxed program gets KeyboardInterrupt and finishes normally (bwrap itself must not die of it)."""
    course, own, _ = grading_folder
    waits = "import time\ntry:\n    print('ready', flush=True)\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('interrupted')\n"
    process = _sandboxed(["-c", waits], own, course, [], start_new_session=True)
    assert process.stdout.readline().strip() == "ready"
    os.killpg(process.pid, signal.SIGINT)
    rest, _ = process.communicate(timeout=120)  # a hang guard: without the interrupt it sleeps 60 s, then prints nothing
    assert rest.strip() == "interrupted" and process.returncode == 0


def test_commands_say_where_the_code_ran(monkeypatch):
    assert cli.sandbox_line().startswith("Sandbox: the graded code ran under bubblewrap")
    monkeypatch.setenv("COURSE_NO_SANDBOX", "1")
    sandbox.unavailable_reason.cache_clear()
    try:
        assert sandbox.unavailable_reason() == "COURSE_NO_SANDBOX is set"
        assert cli.sandbox_line().startswith("Note: no sandbox here (COURSE_NO_SANDBOX is set)")
    finally:
        monkeypatch.delenv("COURSE_NO_SANDBOX")
        sandbox.unavailable_reason.cache_clear()


@pytest.mark.parametrize("which", ["the course's own", "a grading run's"])
def test_nbgrader_configs_load_and_name_the_sandbox(which, tmp_path):
    """nbgrader ignores a config file that raises (it logs and grades with its defaults), so a
    broken line would silently grade without the sandbox: load each config as nbgrader does."""
    from traitlets.config.loader import PyFileConfigLoader

    from course_lib.grader.config import write_course_config

    if which == "a grading run's":
        write_course_config(tmp_path, 60, hide=[tmp_path / "learner.ipynb"])
        folder = tmp_path
    else:
        folder = ROOT
    saved = os.environ.get("JUPYTER_PATH")
    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    finally:
        os.environ.pop("JUPYTER_PATH", None) if saved is None else os.environ.__setitem__("JUPYTER_PATH", saved)
    assert [p.__name__ for p in config.Autograde.autograde_preprocessors][0] == "GuardedExecute"
    assert config.Execute.kernel_name == sandbox.KERNEL_NAME
    assert config.KernelManager.transport == "ipc" and len(config.KernelManager.ip) < 100
    spec = json.loads((folder / ".course" / "jupyter" / "kernels" / sandbox.KERNEL_NAME / "kernel.json").read_text())
    assert spec["argv"][1:3] == ["-m", "course_lib.grader.sandbox"]
    if which == "a grading run's":
        assert "env" not in spec and spec["argv"][3] == "--policy"
        assert sandbox.read_policy(Path(spec["argv"][4]))[1] == [(tmp_path / "learner.ipynb").resolve()]
        assert config.Execute.timeout == 60
