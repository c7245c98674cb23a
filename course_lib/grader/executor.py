"""The autograder's executor: a kernel that ignores interrupts stopped, a dead kernel graded.

nbclient answers a cell that runs past its timeout by interrupting the kernel
and moving on, but a loop that catches KeyboardInterrupt keeps the kernel
busy, and every later cell then waits its full timeout too (a notebook of sixty
cells: two hours per student). Here a kernel that has not answered a few
seconds after the interrupt is killed. `GuardedExecute` (nbgrader's executor
with both) then grades a notebook whose kernel died: the exercises before the
death keep their points, and the feedback of the ones after names the cell
that killed it.
"""
from __future__ import annotations

import asyncio
import functools
import time

# seconds a kernel has to answer after an interrupt before it is killed
INTERRUPT_GRACE = 10


# --------------------------------------------------------------------------
# A kernel that ignores interrupts
# --------------------------------------------------------------------------

class KernelIgnoredInterrupt(Exception):
    pass


class InterruptOrKill:
    """Mixed into nbgrader's Execute (an nbclient NotebookClient with error_on_timeout set).

    On a cell's timeout: interrupt, wait INTERRUPT_GRACE seconds for the
    kernel's reply, and if none comes kill the kernel, which the caller then
    sees as a dead kernel during that cell.
    """

    async def _async_handle_timeout(self, timeout, cell=None):
        from queue import Empty

        from jupyter_core.utils import ensure_async
        from nbclient.exceptions import DeadKernelError

        self.log.error("Timeout waiting for execute reply (%is); interrupting the kernel", timeout)
        await ensure_async(self.km.interrupt_kernel())
        try:
            await ensure_async(self.kc.shell_channel.get_msg(timeout=INTERRUPT_GRACE))
        except (Empty, asyncio.TimeoutError):
            self.log.error("The kernel ignored the interrupt for %ss: killing it", INTERRUPT_GRACE)
            await ensure_async(self.km.shutdown_kernel(now=True))
            raise DeadKernelError("the kernel ignored the interrupt after the cell's timeout") from None
        # the interrupted cell answered: record it as a timeout, as nbgrader would
        return {"content": {**self.error_on_timeout, "status": "error"}}


KERNEL_DIED = "KernelDied"  # the error name given to the cell that killed the kernel and to every later one
DEATH_CAUSES = "os._exit, a crash, running out of memory, or a loop that ignored the interrupt at the time limit"
NOT_RUN = "not run: the kernel died earlier"  # how every cell after the one that killed it begins


def _died_output(message: str):
    import nbformat

    return nbformat.v4.new_output("error", ename=KERNEL_DIED, evalue=message, traceback=[message])


def _cell_name(cell, index: int) -> str:
    from .cells import grade_meta, is_solution_cell, is_test_cell

    if is_solution_cell(cell):
        return f"cell {index}, answer cell {grade_meta(cell)['grade_id']}"
    if is_test_cell(cell):
        return f"cell {index}, test cell {grade_meta(cell)['grade_id']}"
    return f"cell {index}"


class VerdictProcess:
    """The grader's process that runs a notebook's test cells (course_lib/grader/verdict.py), one per kernel.

    It is started at the first test cell with the kernel's connection and
    the source notebook's import statements, and kept for the notebook's
    later test cells (their names carry over, as in a kernel).
    """

    def __init__(self, connection: dict, imports: list[str], call_timeout: float, topic: str = ""):
        import json
        import os
        import subprocess
        import sys

        read_end, self._write_end = os.pipe()
        self.process = subprocess.Popen([sys.executable, "-m", "course_lib.grader.verdict", str(self._write_end)],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, pass_fds=(self._write_end,), text=True,
                                        start_new_session=True)
        os.close(self._write_end)
        self.channel = os.fdopen(read_end, "r")
        info = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in connection.items()}
        self.process.stdin.write(json.dumps({"connection": info, "imports": imports, "topic": topic,
                                             "call_timeout": call_timeout}) + "\n")
        self.process.stdin.flush()

    def run(self, source: str, label: str, timeout: float) -> dict | None:
        """The test cell's outputs, or None when the process did not answer within `timeout` seconds."""
        import json
        import select

        self.process.stdin.write(json.dumps({"source": source, "label": label}) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:  # the first line is the setup's "ready"
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.channel], [], [], left)[0]:
                return None
            line = self.channel.readline()
            if not line:
                return None
            answer = json.loads(line)
            if "outputs" in answer:
                return answer

    def close(self) -> None:
        import os
        import signal

        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
        self.process.wait()
        self.channel.close()


def _source_imports(nb) -> list[str]:
    """Import statements of the notebook's ordinary cells, in order (the test cells' setup)."""
    from .cells import grade_meta
    from .verdict import imports_of

    return [imports_of(c.source) for c in nb.cells
            if c.cell_type == "code" and not grade_meta(c).get("grade") and not grade_meta(c).get("solution")]


def _ready_made_for(nb) -> dict[str, set[str]]:
    """test cell grade_id -> the ready-made names of the answers it grades (integrity.READY_MADE)."""
    from .cells import exercises_of
    from .integrity import READY_MADE

    return {ex.grade_id: set().union(*[READY_MADE.get(s, set()) for s in ex.solution_ids] or [set()])
            for ex in exercises_of(nb)}


@functools.lru_cache(maxsize=1)
def guarded_execute():
    from nbclient.exceptions import DeadKernelError
    from nbgrader.preprocessors import Execute
    from traitlets import Bool, Integer

    class GuardedExecute(InterruptOrKill, Execute):
        """nbgrader's Execute, with test cells decided outside the kernel, a kernel that ignores
        interrupts killed, a dead kernel graded, and an overall time limit per notebook.

        Test cells do not run in the learner's kernel: a VerdictProcess runs
        them and calls into the kernel only for the learner's functions
        (course_lib/grader/verdict.py). The source notebook (the instructor's, not the
        submission) gives their imports.

        nbgrader alone writes no graded notebook when the kernel dies, so every
        exercise scores 0 with no word of why. Here the cell that killed it
        gets an error that says so, every later code cell an error that names
        that cell (they cannot run: the kernel's state is gone), and the
        notebook is graded as usual: the exercises before the death keep
        their points. This runs in the grader's process, where the graded
        code cannot reach.
        """

        verdicts_outside = Bool(True, help="run test cells in the grader's verdict process").tag(config=True)
        notebook_timeout = Integer(1800, help="seconds one notebook may take in all").tag(config=True)
        # nbclient waits 4 s by default for a cell's last outputs after its reply, then fails the whole
        # notebook; on a busy machine (a class graded beside other work) a training cell's bar arrived later
        iopub_timeout = Integer(60, allow_none=True, help="seconds to wait for a cell's last outputs").tag(config=True)

        def preprocess(self, nb, resources=None, km=None):
            self._died_at, self._verdict, self._installed = None, None, False
            self._started = time.monotonic()
            self._source = _source_notebook(self, resources, nb)
            self._ready_made = _ready_made_for(self._source)
            try:
                return super().preprocess(nb, resources, km)
            finally:
                if self._verdict is not None:
                    self._verdict.close()
                    self._verdict = None

        def preprocess_cell(self, cell, resources, index):
            if self._died_at is None and time.monotonic() - self._started > self.notebook_timeout:
                self._died_at = f"cell {index}: the notebook ran past its overall limit of {self.notebook_timeout} s"
                self._kill_kernel()
            if self._died_at is not None:
                if cell.cell_type == "code":
                    cell.outputs = [_died_output(f"{NOT_RUN}, while running {self._died_at} "
                                                 f"({DEATH_CAUSES})")]
                return cell, resources
            try:
                if not self._installed and cell.cell_type == "code":
                    self._install_trace(index)
                if self.verdicts_outside and _is_test_cell(cell):
                    return self._verdict_cell(cell, resources, index)
                return super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                self._died_at = _cell_name(cell, index)
                self.log.error("The kernel died while running %s", self._died_at)
                cell.outputs.append(_died_output(f"the kernel died while running this cell ({DEATH_CAUSES})"))
                return cell, resources

        def _install_trace(self, index):
            """Wrap the chapter's ready-made functions in the kernel before any notebook cell runs."""
            import nbformat

            self._installed = True
            names = sorted(set().union(*self._ready_made.values())) if self._ready_made else []
            setup = nbformat.v4.new_code_cell(
                f"__import__('course_lib.grader.answer_server').grader.answer_server.install_trace({names!r})")
            self.execute_cell(setup, index, store_history=False)

        def _verdict_cell(self, cell, resources, index):
            import nbformat

            from .cells import grade_meta

            if self._verdict is None:
                assignment = str((resources or {}).get("nbgrader", {}).get("assignment", ""))
                self._verdict = VerdictProcess(self.km.get_connection_info(session=False),
                                               _source_imports(self._source), call_timeout=self.timeout,
                                               topic=assignment.split("_", 1)[-1])
            grade_id = grade_meta(cell).get("grade_id", "")
            answer = self._verdict.run(cell.source, f"test cell {grade_id}", timeout=self.timeout + 60)
            if answer is None:  # the learner's function ran past the limit, or the verdict process died
                self._verdict.close()
                self._verdict = None
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename="CellTimeoutError", evalue="",
                    traceback=[f"CellTimeoutError: the test did not finish within {self.timeout} s "
                               "(an infinite loop in your code?)"])]
                self._settle_kernel(index)
                return cell, resources
            outputs = [nbformat.from_dict(o) for o in answer["outputs"]]
            used = sorted(label for label in answer.get("traced", [])
                          if label.rsplit(".", 1)[-1] in self._ready_made.get(grade_id, set()))
            if used:
                message = (f"your answer called {', '.join(used)}, a ready-made version of this exercise: "
                           "write it yourself")
                outputs.append(nbformat.v4.new_output("error", ename="ReadyMadeUsed", evalue=message,
                                                      traceback=[f"ReadyMadeUsed: {message}"]))
            cell.outputs = outputs
            cell.metadata.setdefault("course", {})["ready_made_called"] = answer.get("traced", [])
            if answer.get("timed_out"):  # the learner's function is still running in the kernel: stop it
                self._settle_kernel(index)
            self._drain_iopub()
            return cell, resources

        def _drain_iopub(self):
            """Read and drop what the kernel published while the verdict process called into it.

            Every call the verdict process makes publishes messages (busy, input, the answer, idle) to
            every client, this one included, which reads nothing while a test cell runs elsewhere. A
            test cell of many calls fills its queue; once full, ZeroMQ drops new messages, and the
            next cell's own "idle" could be among them: nbclient would wait out its IOPub timeout and
            stop grading the notebook. Emptied here, the queue has room again.
            """
            from queue import Empty

            from jupyter_core.utils import run_sync

            get = run_sync(self.kc.iopub_channel.get_msg)
            while True:
                try:
                    get(timeout=0)
                except Empty:
                    return

        def _settle_kernel(self, index):
            """After a test that timed out: stop the learner's function still running in the kernel."""
            import nbformat
            from jupyter_core.utils import run_sync

            run_sync(self.km.interrupt_kernel)()
            self._drain_iopub()
            probe = nbformat.v4.new_code_cell("pass")
            saved = self.timeout
            self.timeout = INTERRUPT_GRACE
            try:
                self.execute_cell(probe, index, store_history=False)
            finally:
                self.timeout = saved

        def _kill_kernel(self):
            from jupyter_core.utils import run_sync

            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # already gone
                pass

    return GuardedExecute


def _is_test_cell(cell) -> bool:
    from .cells import is_test_cell

    return cell.cell_type == "code" and is_test_cell(cell)


def _source_notebook(executor, resources, nb):
    """The instructor's source notebook of the one being graded (the submission's own cells are not trusted)."""
    from pathlib import Path

    import nbformat

    info = (resources or {}).get("nbgrader", {})
    db_url = str(info.get("db_url", ""))
    if db_url.startswith("sqlite:///") and info.get("assignment") and info.get("notebook"):
        root = Path(db_url[len("sqlite:///"):]).parent
        source_dir = executor.config.get("CourseDirectory", {}).get("source_directory", "source")
        path = root / source_dir / info["assignment"] / f"{info['notebook']}.ipynb"
        if path.is_file():
            return nbformat.read(str(path), as_version=4)
    raise RuntimeError("cannot find the source notebook of the notebook being graded")
