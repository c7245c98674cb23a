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
    from .grading import grade_meta, is_solution_cell, is_test_cell

    if is_solution_cell(cell):
        return f"cell {index}, answer cell {grade_meta(cell)['grade_id']}"
    if is_test_cell(cell):
        return f"cell {index}, test cell {grade_meta(cell)['grade_id']}"
    return f"cell {index}"


@functools.lru_cache(maxsize=1)
def guarded_execute():
    from nbclient.exceptions import DeadKernelError
    from nbgrader.preprocessors import Execute

    class GuardedExecute(InterruptOrKill, Execute):
        """nbgrader's Execute, with a kernel that ignores interrupts killed, and a dead kernel graded.

        nbgrader alone writes no graded notebook when the kernel dies, so every
        exercise scores 0 with no word of why. Here the cell that killed it
        gets an error that says so, every later code cell an error that names
        that cell (they cannot run: the kernel's state is gone), and the
        notebook is graded as usual: the exercises before the death keep
        their points. This runs in the grader's process, where the graded
        code cannot reach.
        """

        def preprocess(self, nb, resources=None, km=None):
            self._died_at = None
            return super().preprocess(nb, resources, km)

        def preprocess_cell(self, cell, resources, index):
            if self._died_at is not None:
                if cell.cell_type == "code":
                    cell.outputs = [_died_output(f"{NOT_RUN}, while running {self._died_at} "
                                                 f"({DEATH_CAUSES})")]
                return cell, resources
            try:
                return super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                self._died_at = _cell_name(cell, index)
                self.log.error("The kernel died while running %s", self._died_at)
                cell.outputs.append(_died_output(f"the kernel died while running this cell ({DEATH_CAUSES})"))
                return cell, resources

    return GuardedExecute
