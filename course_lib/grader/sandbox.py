"""The autograder's kernel in a sandbox, and a kernel that ignores interrupts stopped.

Graded code runs on the grader's machine, so without a sandbox an answer cell
can read the hidden tests and reference answers (solutions/, git's history),
write the gradebook, or rewrite another student's submission before it is
graded. On Linux with bubblewrap (Debian's `bubblewrap` package), the grader
starts each kernel through `python -m course_lib.grader.sandbox`, which stays outside
as the kernel's supervisor and runs the kernel under `bwrap`.

What is guaranteed where the sandbox runs (`unavailable_reason()` is None):

- No privileges, whoever grades. The kernel runs in its own user namespace
  with no capabilities at all (CapEff 0) and cannot create another one
  (--disable-userns), with no_new_privs. When the grader runs as root (a
  container, CI), bwrap itself is started as uid/gid 65534 (nobody;
  COURSE_SANDBOX_UID changes it), so the kernel is not root on the host
  either: it cannot unmount, remount or mount anything, whatever it calls
  (measured: under the old root-started bwrap, `umount2` and a read-write
  remount of / succeeded; here both fail with EPERM). What bwrap must bind
  but nobody cannot reach (a Python under /root) the root launcher first
  binds into a tmpfs of a private mount namespace of its own.
- A file system of its own: a read-only minimal root built from /usr (and
  /bin, /lib*), /etc, the Python installation and virtual environment (at
  their own paths), and the course's `course_lib` and `checkpoints` at
  /opt/course (PYTHONPATH points there). Nothing else of the machine is
  there: not the clone (solutions/, .git, notebooks/, the gradebook), not the
  grading folder, not the learner's home, not Jupyter's runtime folder (a
  running Lab's token lives there).
- Nothing it writes reaches the grader. Its working folder is
  /home/learner/<chapter>, a size-limited tmpfs holding a *copy* of the files
  of the folder nbgrader started it in (regular files only, copied by the
  launcher through open file descriptors); /tmp and /dev/shm are
  size-limited tmpfs too. nbgrader's autograded folder is never mounted, so
  a symlink or FIFO made by the kernel cannot redirect or block what the
  grader writes afterwards. The only writable host folder is a private,
  empty one for the kernel's Jupyter sockets (/run/kernel inside), made
  by the launcher for this kernel alone and deleted when it ends.
- No network: its own network namespace with only a loopback interface. The
  grader talks to it over Jupyter's `ipc` transport (unix sockets in that
  private folder); `configure()` selects it. The connection file the kernel
  reads (/run/kernel.json) names only neutral paths; the grader's own
  connection info names socket paths under the grading folder, which the
  launcher links to the private folder, so any client (nbclient, or a second
  BlockingKernelClient in another process built from
  `km.get_connection_info()`) connects as usual.
- Its own PID, IPC, UTS and (where the kernel has them) cgroup namespaces, a
  new session (no terminal to inject keystrokes into), and it dies with the
  grader.
- Limits, set before the kernel starts (environment variables change them):
  address space per process (COURSE_SANDBOX_MEMORY, default 8G), CPU seconds
  per process (COURSE_SANDBOX_CPU_SECONDS, default 7200), file size (1G),
  processes and threads (COURSE_SANDBOX_PROCESSES, default 1024, counted in
  the sandbox's own user namespace on Linux >= 5.14), open files (4096), no
  core files; /tmp and the working folder hold 1G each
  (COURSE_SANDBOX_TMP_SIZE), /dev/shm 512M.
  The address-space cap fits a chapter's kernel with room: importing torch
  takes 0.7 GB, a transformer of 4 layers of width 256 trained on 16 threads
  peaked at 3.7 GB (2.1 GB resident); MALLOC_ARENA_MAX=8 keeps glibc's
  per-thread reservations from growing with the number of cores.
- A fresh IPython profile (no startup files), a private matplotlib cache (the
  grader's font list copied in), and an /etc/hosts of its own (its host name
  and the loopback resolve with no network: chapter 10's gloo processes meet
  on 127.0.0.1 inside).
- The environment: the grader's variables minus any that name the grading
  folder, the clone, the learner's file or Jupyter's folders.
- Interrupts: the launcher stays outside as the kernel's parent; the SIGINT
  that Jupyter sends to its process group is passed on to the kernel's own
  (bwrap ignores it), and the launcher deletes the socket folder when the
  kernel ends (a launcher killed with SIGKILL leaves it: the next launcher
  removes it).

What is not guaranteed:

- The mount table (/proc/self/mountinfo) still names the source of each
  read-only bind: the Python installation and virtual environment (which may
  lie in the clone, e.g. <clone>/.venv), `<clone>/course_lib` and
  `<clone>/checkpoints`, the private socket folder (a random name under the
  temporary folder) and the host's devices. It names no path of the grading
  folder, no submission, not solutions/ and not the learner's file, as long
  as the grading folder is a throw-away one (`course grade`, `course check`);
  with the course's own nbgrader_config.py (the formgrader) the grading
  folder is the clone itself, so those sources lie inside it.
- Memory is limited per process (address space), not for the kernel and its
  children together (that needs cgroups, which an unprivileged grader cannot
  set up everywhere); the CPU limit is CPU time, not wall time (the grader's
  cell timeout is wall time).
- No GPU: /dev holds only the basic devices, so code runs on the CPU.
- Where bwrap is missing or cannot create namespaces (macOS, Windows, a
  container without unprivileged user namespaces, or with a seccomp policy
  that forbids them), grading runs without a sandbox and says so
  (`unavailable_reason()`), and COURSE_NO_SANDBOX turns it off on purpose.
"""
from __future__ import annotations

import functools
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "course-sandbox"
ROOT = Path(__file__).resolve().parents[2]
# what a notebook needs from the clone, shown at /opt/course/<name> read-only; everything else is absent
NEEDED_FROM_CLONE = ("course_lib", "checkpoints")
COURSE_INSIDE = "/opt/course"
HOME_INSIDE = "/home/learner"
SOCKETS_INSIDE = "/run/kernel"
CONNECTION_INSIDE = "/run/kernel.json"
UNPRIVILEGED_ID = 65534  # nobody: who bwrap runs as when the grader is root

GIB = 1 << 30
DEFAULT_MEMORY = 8 * GIB
DEFAULT_CPU_SECONDS = 7200
DEFAULT_PROCESSES = 1024
DEFAULT_TMP_SIZE = GIB
SHM_SIZE = GIB // 2
FILE_SIZE = GIB
OPEN_FILES = 4096
MAX_COPIED_FILES = 500


def _size(text: str) -> int:
    """'8G', '512M', '1024K' or bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (say 8G, 512M or a number of bytes)")
    return int(float(match.group(1)) * 1024 ** " KMGT".index((match.group(2) or " ").upper()))


def limits() -> dict[str, int]:
    """The limits each sandboxed kernel gets (from COURSE_SANDBOX_* variables, else the defaults)."""
    env = os.environ
    return {
        "memory": _size(env["COURSE_SANDBOX_MEMORY"]) if env.get("COURSE_SANDBOX_MEMORY") else DEFAULT_MEMORY,
        "cpu_seconds": int(env.get("COURSE_SANDBOX_CPU_SECONDS") or DEFAULT_CPU_SECONDS),
        "processes": int(env.get("COURSE_SANDBOX_PROCESSES") or DEFAULT_PROCESSES),
        "tmp_size": _size(env["COURSE_SANDBOX_TMP_SIZE"]) if env.get("COURSE_SANDBOX_TMP_SIZE") else DEFAULT_TMP_SIZE,
        "file_size": FILE_SIZE,
        "open_files": OPEN_FILES,
    }


def _sandbox_uid() -> int | None:
    """The uid bwrap runs as: None (the grader's own) unless the grader is root."""
    if os.geteuid() != 0:
        return None
    return int(os.environ.get("COURSE_SANDBOX_UID") or UNPRIVILEGED_ID)


# --------------------------------------------------------------------------
# Is there a sandbox here?
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when kernels can run under bwrap here, else why not (one line).

    The trial starts this Python in the sandbox exactly as a kernel is
    started (user, network, PID, IPC and UTS namespaces, size-limited tmpfs,
    the same read-only root, dropped to nobody when run as root).
    """
    if os.environ.get("COURSE_NO_SANDBOX"):
        return "COURSE_NO_SANDBOX is set"
    if not sys.platform.startswith("linux"):
        return f"bubblewrap runs on Linux only (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian/Ubuntu: apt install bubblewrap)"
    try:
        # in a process of its own: as root, the launcher changes its own mount namespace
        trial = subprocess.run([sys.executable, "-m", "course_lib.grader.sandbox", "--trial"], capture_output=True,
                               text=True, timeout=60, env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                   filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))))
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap cannot create a sandbox here ({str(error)[:160]})"
    if trial.returncode != 0:
        detail = (trial.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bwrap cannot create a sandbox here ({detail[:160]})"
    return None


def available() -> bool:
    return unavailable_reason() is None


def policy_path(grading_root: Path) -> Path:
    return Path(grading_root) / ".course" / "sandbox.json"


def write_policy(grading_root: Path, hide: list[str | Path] = ()) -> Path:
    """The one record of what the kernels of a grading folder may not see; returns its path.

    `grading_root` is the nbgrader course being graded (a throw-away one, or the
    instructor's own) and `hide` the paths outside it that no kernel may read
    (the learner's own file for `course check`, the class's submitted folder for
    `course grade`). Only the launcher (`main`, outside the sandbox) reads it;
    the file lies in the grading folder, which no kernel sees, and no command
    line or environment variable names the hidden paths.
    """
    path = policy_path(grading_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"grading_root": str(Path(grading_root).resolve()),
                                "hide": [str(Path(p).resolve()) for p in hide]}, indent=1))
    return path


def read_policy(path: Path) -> tuple[Path, list[Path]]:
    policy = json.loads(Path(path).read_text())
    return Path(policy["grading_root"]), [Path(p) for p in policy["hide"]]


def write_kernelspec(folder: Path, policy: Path) -> Path:
    """Write the sandboxed kernel's spec under folder/kernels/; return `folder` (for JUPYTER_PATH).

    Its launcher reads what to hide from `policy` (write_policy).
    """
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "course_lib.grader.sandbox", "--policy", str(Path(policy).resolve()), "--",
                 sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (course sandbox)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder


def socket_prefix(grading_root: Path) -> str:
    """Where the grader's side of each kernel's unix sockets lie: `<prefix>-<port>`.

    Under the grading folder (deleted with it); a unix socket path holds at
    most 107 bytes, so a deep grading folder uses one private folder per
    grading folder under the temporary folder instead.
    """
    import hashlib

    grading_root = Path(grading_root).resolve()
    folder = grading_root / ".course" / "kernels"
    if len(str(folder)) > 96:
        digest = hashlib.sha256(str(grading_root).encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"course-kernels-{os.geteuid()}-{digest}"
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            if folder.is_symlink() or folder.lstat().st_uid != os.geteuid():
                folder = Path(tempfile.mkdtemp(prefix="course-kernels-"))
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / "k")


def configure(c, grading_root: str | Path) -> None:
    """Set up an nbgrader config `c` so that autograde grades as `course grade` does.

    Called from nbgrader_config.py (the course's own, which the formgrader's
    Autograde button and `nbgrader autograde` read, and the throw-away one of
    each grading run): nbgrader's executor becomes GuardedExecute and, where
    bwrap works, every kernel starts in the sandbox. The kernel spec is written
    under grading_root/.course/jupyter and put first on JUPYTER_PATH for this
    process (nbgrader looks kernels up there). What the kernels may not see is
    the grading folder's policy (write_policy; the instructor's own course,
    which has none, hides just itself). Kernels talk over unix sockets (the
    sandbox has no network).
    """
    from nbgrader.converters.autograde import Autograde

    from . import executor

    c.Autograde.autograde_preprocessors = [
        executor.guarded_execute() if p.__name__ == "Execute" else p
        for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    if available():
        policy = policy_path(Path(grading_root))
        if not policy.is_file() or read_policy(policy)[0] != Path(grading_root).resolve():
            write_policy(Path(grading_root))  # the instructor's own course (a moved clone: written anew)
        folder = write_kernelspec(Path(grading_root) / ".course" / "jupyter", policy)
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("JUPYTER_PATH")]))
        c.Execute.kernel_name = KERNEL_NAME
        c.KernelManager.transport = "ipc"
        c.KernelManager.ip = socket_prefix(Path(grading_root))


# --------------------------------------------------------------------------
# Starting a kernel inside it
# --------------------------------------------------------------------------

def _sweep_stale(prefix: str) -> None:
    """Remove `<tmp>/<prefix><pid>-*` folders left by a launcher that was killed (SIGKILL: no cleanup)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = folder.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or folder.is_symlink() or Path(f"/proc/{pid}").exists():
            continue
        try:
            if folder.lstat().st_uid in (os.geteuid(), _sandbox_uid()):
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def _private_mounts(sources: list[Path], uid: int) -> tuple[dict[Path, Path], Path | None]:
    """When root hands bwrap to `uid`: paths `uid` can reach for each source it may not (e.g. under /root).

    bwrap resolves each source path as the user it runs as. Root makes this
    launcher's own mount namespace private and binds each source under a
    fresh tmpfs (only this process and its children see them); the bind's
    source still reads as the original path in the sandbox's mount table.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newns, ms_rec, ms_private, ms_bind = 0x20000, 0x4000, 1 << 18, 4096
    if libc.unshare(clone_newns) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(None, b"/", None, ms_rec | ms_private, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    _sweep_stale("course-stage-")
    stage = Path(tempfile.mkdtemp(prefix=f"course-stage-{os.getpid()}-"))
    if libc.mount(b"tmpfs", str(stage).encode(), b"tmpfs", 0, b"mode=0755,size=1M") != 0:
        raise OSError(ctypes.get_errno(), "mount tmpfs")
    staged = {}
    for index, source in enumerate(sources):
        target = stage / str(index)
        target.mkdir()
        if libc.mount(str(source).encode(), str(target).encode(), None, ms_bind | ms_rec, None) != 0:
            raise OSError(ctypes.get_errno(), f"bind {source}")
        staged[source] = target
    return staged, stage


class _Launch:
    """One sandboxed kernel: the bwrap options, the files handed in, and what to clean up afterwards."""

    def __init__(self, kernel_argv: list[str], workdir: Path, grading_root: Path | None, hide: list[Path]):
        self.kernel_argv = list(kernel_argv)
        self.workdir = Path(workdir).resolve()
        self.grading_root = Path(grading_root).resolve() if grading_root else None
        self.hide = [Path(p).resolve() for p in hide]
        self.uid = _sandbox_uid()
        self.fds: list[int] = []
        self.links: list[Path] = []
        self.sockets: Path | None = None
        self.stage: Path | None = None
        self.limits = limits()
        self.options = self._options()

    # -- the pieces --------------------------------------------------------

    def _fd(self, fd: int) -> str:
        self.fds.append(fd)
        return str(fd)

    def _data(self, data: bytes) -> str:
        """A file descriptor from which bwrap reads `data` (a memfd: any size, no command line)."""
        fd = os.memfd_create("course-sandbox", 0)
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        return self._fd(fd)

    def _secrets(self) -> list[Path]:
        secret = [ROOT, *self.hide]
        if self.grading_root is not None:
            secret.append(self.grading_root)
        secret.append(self.workdir)
        try:
            from jupyter_core.paths import jupyter_runtime_dir

            secret.append(Path(jupyter_runtime_dir()).resolve())
        except Exception:
            pass
        return secret

    def _python_paths(self) -> list[Path]:
        """The Python installation, virtual environment and package folders, outermost first.

        Not a folder that holds something secret (the clone itself on
        PYTHONPATH, the grading folder), nor one inside a secret folder except
        the environments themselves (a .venv inside the clone).
        """
        prefixes = {Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}}
        candidates = set(prefixes)
        candidates |= {Path(p).resolve() for p in sys.path if p and os.path.isabs(p) and Path(p).is_dir()}
        secret = self._secrets()
        chosen: list[Path] = []
        for path in sorted(candidates, key=lambda p: (len(p.parts), str(p))):
            if str(path) in ("/", "/usr") or path.parts[1:2] in (("usr",), ("etc",)):
                continue  # there anyway
            if any(s == path or path in s.parents for s in secret):
                continue  # would show a secret
            inside_prefix = any(p == path or p in path.parents for p in prefixes)
            if not inside_prefix and any(s in path.parents for s in secret):
                continue
            if any(c in path.parents for c in chosen):
                continue
            chosen.append(path)
        return chosen

    def _options(self) -> list[str]:
        lim = self.limits
        opts = ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
                "--unshare-cgroup-try", "--disable-userns", "--cap-drop", "ALL", "--hostname", "sandbox",
                "--new-session", "--die-with-parent", "--as-pid-1"]
        # a read-only root of the system's own folders
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            host = Path("/") / name
            if host.is_symlink():
                opts += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                opts += ["--ro-bind", str(host), str(host)]
        opts += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        # its host name resolves, to the loopback (gloo looks its own address up by name)
        hosts = b"127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost ip6-loopback\n::ffff:127.0.0.1 localhost\n"
        opts += ["--ro-bind-data", self._data(hosts), "/etc/hosts"]
        # Python, wherever it is installed, at its own paths; the course's packages at /opt/course
        binds = [(p, str(p)) for p in self._python_paths()]
        binds += [(ROOT / name, f"{COURSE_INSIDE}/{name}") for name in NEEDED_FROM_CLONE if (ROOT / name).is_dir()]
        sources = [source for source, _ in binds]
        staged = {}
        if self.uid is not None:
            try:
                staged, self.stage = _private_mounts(sources, self.uid)
            except OSError:
                staged = {}  # bwrap then needs the paths themselves reachable by that uid
        # the private /tmp and home first: a Python or clone that lies under /tmp (a CI checkout) is bound
        # on top of them, not hidden by them
        opts += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(SHM_SIZE), "--tmpfs", "/dev/shm",
                 "--size", str(lim["tmp_size"]), "--tmpfs", "/tmp",
                 "--dir", "/tmp/matplotlib", "--dir", "/tmp/ipython",
                 "--size", str(lim["tmp_size"]), "--tmpfs", HOME_INSIDE]
        # a bind under /tmp would leave its parent folders writable on the private /tmp: give each such
        # top-level folder a tmpfs of its own, read-only once the binds are in
        under_tmp = sorted({"/tmp/" + Path(target).relative_to("/tmp").parts[0] for _, target in binds
                            if Path(target).is_relative_to("/tmp") and Path(target) != Path("/tmp")})
        for top in under_tmp:
            opts += ["--size", str(1 << 20), "--tmpfs", top]
        for source, target in binds:
            opts += ["--ro-bind", str(staged.get(source, source)), target]
        for top in under_tmp:
            opts += ["--remount-ro", top]
        # its working folder: a copy of the files nbgrader put in the folder it started the kernel in
        name = self.workdir.name if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", self.workdir.name) else "work"
        name = name if name not in (".", "..") else "work"
        workdir_inside = f"{HOME_INSIDE}/{name}"
        opts += ["--dir", workdir_inside]
        opts += self._copy_folder(self.workdir, workdir_inside)
        font_cache = _matplotlib_font_cache()
        if font_cache is not None:  # copied in: building it again costs seconds per kernel
            try:
                fd = os.open(font_cache, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                opts += ["--perms", "0644", "--file", self._fd(fd), f"/tmp/matplotlib/{font_cache.name}"]
            except OSError:
                pass
        opts += self._connection()
        opts += ["--remount-ro", "/", "--remount-ro", "/dev", "--chdir", workdir_inside]
        opts += self._environment(workdir_inside)
        return opts

    def _copy_folder(self, folder: Path, inside: str) -> list[str]:
        """bwrap options that copy the regular files (and folders) under `folder` into `inside`.

        Read through file descriptors opened here, never following a link or
        opening a FIFO; at most MAX_COPIED_FILES files and the tmpfs's size.
        Notebooks are left out: nbgrader writes the notebook being graded into
        this folder, hidden tests restored, before it runs it; the kernel never
        needs its own .ipynb, and the hidden tests must stay out of its reach.
        """
        opts, total, count = [], 0, 0
        budget = self.limits["tmp_size"] // 2
        for current, dirs, files in os.walk(folder, followlinks=False):
            rel = Path(current).relative_to(folder)
            dirs[:] = sorted(d for d in dirs if not Path(current, d).is_symlink())
            for d in dirs:
                opts += ["--dir", f"{inside}/{(rel / d).as_posix()}"]
            for f in sorted(files):
                if f.lower().endswith(".ipynb"):
                    continue
                path = Path(current, f)
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                except OSError:
                    continue
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or count >= MAX_COPIED_FILES or total + info.st_size > budget:
                    os.close(fd)
                    continue
                count, total = count + 1, total + info.st_size
                opts += ["--perms", "0644", "--file", self._fd(fd), f"{inside}/{(rel / f).as_posix()}"]
        return opts

    def _connection(self) -> list[str]:
        """The kernel's connection file, rewritten to name /run/kernel/k-<port> sockets."""
        _sweep_stale("course-kernel-")
        self.sockets = Path(tempfile.mkdtemp(prefix=f"course-kernel-{os.getpid()}-"))
        if self.uid is not None:
            os.chown(self.sockets, self.uid, self.uid)
        opts = ["--bind", str(self.sockets), SOCKETS_INSIDE]
        if "-f" not in self.kernel_argv:
            return opts
        where = self.kernel_argv.index("-f") + 1
        outside = Path(self.kernel_argv[where])
        info = json.loads(outside.read_text())
        if info.get("transport", "tcp") != "ipc":
            raise SystemExit("course_lib.grader.sandbox: the sandboxed kernel has no network; its kernel manager must use "
                             "the ipc transport (c.KernelManager.transport = 'ipc', as sandbox.configure sets)")
        prefix = Path(info["ip"])
        if not prefix.is_absolute():  # relative to the kernel manager's working folder
            prefix = Path(os.readlink(f"/proc/{os.getppid()}/cwd")) / prefix
        for key in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
            port = int(info[key])
            link = Path(f"{prefix}-{port}")
            temporary = link.with_name(link.name + ".course-link")
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(self.sockets / f"k-{port}")
            os.replace(temporary, link)
            self.links.append(link)
        inside = dict(info, ip=f"{SOCKETS_INSIDE}/k")
        self.kernel_argv[where] = CONNECTION_INSIDE
        return opts + ["--perms", "0400", "--file", self._data(json.dumps(inside, indent=1).encode()),
                       CONNECTION_INSIDE]

    def _environment(self, workdir_inside: str) -> list[str]:
        """The grader's environment minus what names the grading, plus the sandbox's own paths."""
        secret = [str(p) for p in self._secrets()]
        dropped_names = ("PWD", "OLDPWD", "TMPDIR", "TEMP", "TMP", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME",
                         "PYTHONUSERBASE", "HOME", "PATH", "USER", "LOGNAME", "MPLCONFIGDIR", "IPYTHONDIR",
                         "VIRTUAL_ENV", "SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY")
        opts = ["--clearenv"]
        for key, value in os.environ.items():
            if key in dropped_names or key.startswith(("JUPYTER_", "JPY_", "COURSE_SANDBOX_", "XDG_", "COVERAGE_")):
                continue
            if any(s in value for s in secret) or "\0" in value:
                continue
            opts += ["--setenv", key, value]
        bins = [str(Path(sys.executable).parent)]
        opts += ["--setenv", "PATH", os.pathsep.join(bins + ["/usr/local/bin", "/usr/bin", "/bin"]),
                 "--setenv", "HOME", HOME_INSIDE, "--setenv", "USER", "learner", "--setenv", "LOGNAME", "learner",
                 "--setenv", "PWD", workdir_inside, "--setenv", "TMPDIR", "/tmp",
                 "--setenv", "PYTHONPATH", COURSE_INSIDE,
                 # a fresh IPython profile (no startup files) and a private matplotlib cache
                 "--setenv", "IPYTHONDIR", "/tmp/ipython", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
                 "--setenv", "JUPYTER_RUNTIME_DIR", "/tmp/jupyter/runtime",
                 "--setenv", "JUPYTER_CONFIG_DIR", "/tmp/jupyter/config",
                 "--setenv", "JUPYTER_DATA_DIR", "/tmp/jupyter/data",
                 "--setenv", "COURSE_SANDBOX_LIMITS", json.dumps(self.limits)]
        if sys.prefix != sys.base_prefix:
            opts += ["--setenv", "VIRTUAL_ENV", sys.prefix]
        if "MALLOC_ARENA_MAX" not in os.environ:
            # glibc reserves 64 MiB of address space per malloc arena, up to 8 per core: on a
            # many-core machine that alone would reach the address-space limit
            opts += ["--setenv", "MALLOC_ARENA_MAX", "8"]
        return opts

    # -- running it --------------------------------------------------------

    def command(self) -> list[str]:
        return [sys.executable, "-m", "course_lib.grader.sandbox", "--inside", "--", *self.kernel_argv]

    def run(self, capture: bool = False) -> subprocess.CompletedProcess:
        """Start bwrap (as nobody when root), forward interrupts to the kernel, wait, return its result."""
        bwrap = shutil.which("bwrap") or "bwrap"
        args_fd = self._data(b"".join(a.encode() + b"\0" for a in self.options))
        info_read, info_write = os.pipe()
        argv = [bwrap, "--args", args_fd, "--info-fd", str(info_write), "--", *self.command()]
        user = {}
        if self.uid is not None:
            user = {"user": self.uid, "group": self.uid, "extra_groups": []}
        # The kernel is interrupted by SIGINT to this launcher's process group: bwrap must ignore
        # it (its default is to die, and the kernel with it); this launcher forwards it to the
        # kernel's own process group (a new session), where the kernel gets the default back.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process = subprocess.Popen(argv, pass_fds=(*self.fds, info_write), close_fds=True,
                                       stdout=subprocess.PIPE if capture else None,
                                       stderr=subprocess.PIPE if capture else None, text=capture, **user)
        finally:
            os.close(info_write)
            for fd in self.fds:
                os.close(fd)
            self.fds = []
        kernel_pid = None
        try:
            with os.fdopen(info_read, "rb") as info:
                kernel_pid = json.loads(info.read() or b"{}").get("child-pid")
        except (OSError, ValueError):
            pass

        def forward(signum, frame):
            if kernel_pid:
                for send in (lambda: os.killpg(kernel_pid, signum), lambda: os.kill(kernel_pid, signum)):
                    try:
                        send()
                        return
                    except OSError:
                        continue

        if not capture:
            signal.signal(signal.SIGINT, forward)
            signal.signal(signal.SIGTERM, forward)
        else:
            signal.signal(signal.SIGINT, previous)
        out, err = process.communicate()
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def cleanup(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        for link in self.links:
            try:
                if link.is_symlink():
                    link.unlink()
            except OSError:
                pass
        if self.sockets is not None:
            shutil.rmtree(self.sockets, ignore_errors=True)
        if self.stage is not None:
            try:
                import ctypes

                ctypes.CDLL(None).umount2(str(self.stage).encode(), 2)
                self.stage.rmdir()
            except OSError:
                pass


def _matplotlib_font_cache() -> Path | None:
    try:
        import matplotlib

        cache = Path(matplotlib.get_cachedir())
    except Exception:
        return None
    found = sorted(cache.glob("fontlist-v*.json"))
    return found[-1] if found else None


def _inside(kernel_argv: list[str]) -> None:
    """In the sandbox, before the kernel: the limits, no inherited descriptors, SIGINT's default back."""
    lim = json.loads(os.environ.pop("COURSE_SANDBOX_LIMITS", "{}")) or limits()

    def cap(which, soft, hard=None):
        hard = soft if hard is None else hard
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))

    cap(resource.RLIMIT_AS, lim["memory"])
    cap(resource.RLIMIT_CPU, lim["cpu_seconds"], lim["cpu_seconds"] + 30)
    cap(resource.RLIMIT_FSIZE, lim["file_size"])
    cap(resource.RLIMIT_NPROC, lim["processes"])
    cap(resource.RLIMIT_NOFILE, lim["open_files"])
    cap(resource.RLIMIT_CORE, 0)
    os.closerange(3, 1 << 16)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(kernel_argv[0], kernel_argv)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--trial"]:  # unavailable_reason(): can a sandbox start here?
        with tempfile.TemporaryDirectory(prefix="course-sandbox-trial-") as tmp:
            launch = _Launch([sys.executable, "-S", "-c", "pass"], Path(tmp), None, [])
            try:
                done = launch.run(capture=True)
            finally:
                launch.cleanup()
        sys.stderr.write(done.stderr or "")
        sys.exit(done.returncode)
    inside = argv[:1] == ["--inside"]
    if inside:
        argv = argv[1:]
    policy = None
    if argv[:1] == ["--policy"] and len(argv) > 1:
        policy, argv = Path(argv[1]), argv[2:]
    if argv[:1] != ["--"] or len(argv) < 2:
        raise SystemExit("usage: python -m course_lib.grader.sandbox [--policy FILE] -- KERNEL COMMAND...")
    kernel_argv = argv[1:]
    if inside:
        _inside(kernel_argv)
        return
    root, hide = read_policy(policy) if policy is not None else (None, [])
    launch = _Launch(kernel_argv, Path.cwd(), root, hide)
    try:
        done = launch.run()
    finally:
        launch.cleanup()
    sys.exit(done.returncode if done.returncode >= 0 else 128 - done.returncode)


if __name__ == "__main__":
    main()
