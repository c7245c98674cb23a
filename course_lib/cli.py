"""The `course` command: list, check, reset, release, lab, doctor, pretrain.

Every command that touches a learner's notebook either only reads it (`check`,
`list`) or saves a timestamped copy first (`reset`, `release`): nothing a
learner wrote is ever lost.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from . import grader
from .grader import CourseError, awarded_scores
from .lab import install_lab_setting_defaults, jupyter_lab_command

PROGRESS_FILE = ".course/progress.json"


# --------------------------------------------------------------------------
# Learner's progress (last check scores), kept outside git
# --------------------------------------------------------------------------

def _load_progress(root: Path) -> dict:
    path = root / PROGRESS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _save_progress(root: Path, chapter: str, report: grader.GradeReport) -> None:
    path = root / PROGRESS_FILE
    progress = _load_progress(root)
    progress[chapter] = {
        "score": report.score,
        "max_score": report.max_score,
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "exercises": {c.grade_id: c.score for c in report.cells},
    }
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(progress, indent=2))


def backup_notebook(path: Path) -> Path:
    """Copy `path` beside itself with a timestamp in the name; return the copy."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.stem}.backup-{stamp}{path.suffix}")
    counter = 1
    while backup.exists():
        backup = path.with_name(f"{path.stem}.backup-{stamp}-{counter}{path.suffix}")
        counter += 1
    shutil.copy2(path, backup)
    return backup


def _fmt_points(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

def sandbox_line() -> str:
    """One line on where the graded code ran: in the sandbox, or (saying why) without one."""
    from .grader import sandbox

    reason = sandbox.unavailable_reason()
    if reason is None:
        return ("Sandbox: the graded code ran under bubblewrap as an unprivileged user with no network and limits on "
                "memory, CPU time and processes, seeing a read-only system and a private copy of the notebook's "
                "folder: it could not read solutions/, the gradebook or other notebooks, nor change any file of "
                "yours. The tests ran outside it and only called your functions.")
    return (f"Note: no sandbox here ({reason}): the graded code ran as you, able to read and write your files; "
            "the tests still ran outside it and only called your functions (docs/design.md: the trust model).")


def cmd_list(args) -> int:
    root = grader.course_root()
    progress = _load_progress(root)
    chapters = grader.chapters(root)
    width = max((len(ex.title) for chapter in chapters for ex in chapter.exercises()), default=10)
    for chapter in chapters:
        exercises = chapter.exercises()
        status = "not opened"
        if chapter.release.exists():
            try:
                mine = grader.read_notebook(chapter.release)
                edited = grader.edited_exercises(chapter, mine)
                solution_count = len(grader.solution_sources(mine))
                status = "not started" if not edited else f"in progress ({len(edited)}/{solution_count} answer cells edited)"
            except CourseError:
                status = "notebook unreadable: run `course reset " + chapter.number + "`"
        last = progress.get(chapter.name)
        if last:
            status += f", last check {_fmt_points(last['score'])}/{_fmt_points(last['max_score'])} ({last['when']})"
        print(f"{chapter.name}  {_fmt_points(chapter.points)} points  [{status}]")
        for ex in exercises:
            mark = ""
            if last and ex.grade_id in last.get("exercises", {}):
                mark = f"  {_fmt_points(last['exercises'][ex.grade_id])}/{_fmt_points(ex.points)}"
            print(f"    {ex.title:<{width}} {_fmt_points(ex.points)} pt{mark}")
    return 0


def cmd_check(args) -> int:
    root = grader.course_root()
    chapter = grader.find_chapter(args.chapter, root)
    path = Path(args.notebook) if args.notebook else chapter.release
    learner_nb = grader.read_notebook(path)  # a one-line CourseError if missing or broken
    print(f"Grading {path} with the hidden tests of {chapter.name} (your file is not modified)...", flush=True)
    from .grader import integrity

    flags = integrity.report(chapter, learner_nb)  # read as IPython would run it, before anything runs
    titles = {ex.grade_id: ex.title for ex in chapter.exercises()}
    report = grader.autograde(chapter, {"learner": learner_nb}, cell_timeout=args.timeout, hide=[path])["learner"]
    for repair in report.repairs:
        print(f"  REPAIRED: {repair}")
    for grade_id, found in flags.items():
        for flag in found:
            print(f"  INTEGRITY: {titles.get(grade_id, grade_id)}: {flag}")
    for line in report.tampered:
        print(f"  INTEGRITY: {line}")
    if flags or report.tampered:
        print("  (INTEGRITY lines say where an answer reaches past its exercise; in a graded class the "
              "instructor's `course grade` gives no points for them)")
    width = max(len(c.title) for c in report.cells) if report.cells else 10
    for cell in report.cells:
        ok = cell.score >= cell.max_score
        mark = "PASS" if ok else "FAIL"
        print(f"  [{mark}] {cell.title:<{width}}  {_fmt_points(cell.score)}/{_fmt_points(cell.max_score)}")
        if not ok and cell.feedback:
            print(textwrap.indent(textwrap.fill(cell.feedback, 100), "         "))
    print(f"Score: {_fmt_points(report.score)}/{_fmt_points(report.max_score)}")
    print(sandbox_line())
    if args.notebook is None:
        _save_progress(root, chapter.name, report)
    return 0


def cmd_grade(args) -> int:
    """Grade a class: every submitted/<student>/<chapter>/<chapter>.ipynb, in one nbgrader run."""
    import csv

    from .grader import integrity

    root = grader.course_root()
    chapter = grader.find_chapter(args.chapter, root)
    submitted = Path(args.submitted) if args.submitted else root / "submitted"
    paths = {p.parent.parent.name: p for p in sorted(submitted.glob(f"*/{chapter.name}/{chapter.name}.ipynb"))}
    if not paths:
        raise CourseError(f"no submissions in {submitted}: expected {submitted}/<student>/{chapter.name}/"
                          f"{chapter.name}.ipynb")
    notebooks, unreadable = {}, {}
    for student, path in paths.items():
        try:
            notebooks[student] = grader.read_notebook(path)
        except CourseError as error:
            unreadable[student] = str(error)
    print(f"Grading {len(notebooks)} submissions of {chapter.name} (no submitted file is modified)...", flush=True)
    reports = grader.autograde(chapter, notebooks, cell_timeout=args.timeout, hide=[submitted]) if notebooks else {}
    exercises = chapter.exercises()
    out = Path(args.out) if args.out else root / f"grades-{chapter.name}.csv"
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *[e.grade_id for e in exercises], "total", "max", "raw_total",
                         "flagged", "notes"])
        for student in paths:
            if student in unreadable:
                writer.writerow([student, *[0] * len(exercises), 0, chapter.points, 0, "", unreadable[student]])
                print(f"  {student:<20} 0/{chapter.points:g}  unreadable: {unreadable[student]}")
                continue
            report, flags = reports[student], integrity.report(chapter, notebooks[student])
            # report.tampered (the gradebook disagrees with the graded notebook) is a note, not a
            # flag: another submission's code may have written this student's rows, and the
            # score is read from the graded notebook anyway
            flagged = set(flags)
            awarded = awarded_scores(report, flags, args.allow_flagged)
            notes = [f"{gid}: {f}" for gid, found in flags.items() for f in found] + report.tampered + report.repairs
            writer.writerow([student, *[f"{a:g}" for a in awarded], f"{sum(awarded):g}", f"{report.max_score:g}",
                             f"{report.score:g}", " ".join(sorted(flagged)), " | ".join(notes)])
            mark = f"  flagged: {', '.join(sorted(flagged))}" if flagged else ""
            print(f"  {student:<20} {sum(awarded):g}/{report.max_score:g}{mark}")
    print(sandbox_line())
    print(f"wrote {out}" + ("" if args.allow_flagged else "  (flagged exercises get 0: --allow-flagged to "
                                                            "award them)"))
    return 0


def cmd_reset(args) -> int:
    root = grader.course_root()
    chapter = grader.find_chapter(args.chapter, root)
    if chapter.release.exists():
        backup = backup_notebook(chapter.release)
        print(f"Saved your notebook as {backup.relative_to(root)}")
    fresh = grader.pristine_release_text(chapter)
    chapter.release.parent.mkdir(parents=True, exist_ok=True)
    chapter.release.write_text(fresh)
    print(f"Restored a fresh {chapter.release.relative_to(root)}")
    return 0


def cmd_release(args) -> int:
    root = grader.course_root()
    names = args.chapters or [c.name for c in grader.chapters(root)]
    for name in names:
        chapter = grader.find_chapter(name, root)
        if chapter.release.exists():
            try:
                edited = grader.edited_exercises(chapter, grader.read_notebook(chapter.release))
            except CourseError:
                edited = ["unreadable"]
            if edited:
                backup = backup_notebook(chapter.release)
                print(f"{chapter.release.relative_to(root)} has answers in it: saved as {backup.name}")
        for path in grader.release(root, [chapter.name]):
            print(f"wrote {path.relative_to(root)}")
    return 0


def cmd_run(args) -> int:
    root = grader.course_root()
    chapter = grader.find_chapter(args.chapter, root)
    print(f"Running {chapter.source.relative_to(root)} top to bottom"
          f"{' (fast)' if args.fast else ' at full length'}...", flush=True)
    seconds = grader.execute_notebook(chapter.source, fast=args.fast)
    print(f"done in {seconds:.0f} s; outputs stored. Next: `course release {chapter.number}`")
    return 0


def _torchrun_command(args) -> list[str]:
    """The torchrun command line that runs this same `course pretrain` in args.nproc processes."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
               "-m", "course_lib.cli", "pretrain", args.recipe, "--seed", str(args.seed)]
    for option in ("steps", "out", "precision", "accumulate", "device"):
        value = getattr(args, option)
        if value is not None:
            command += [f"--{option}", str(value)]
    return command


def cmd_pretrain(args) -> int:
    from . import pretrain  # imports torch: only for this command, so the others start fast

    if args.recipe not in pretrain.RECIPES:
        raise CourseError(f"unknown recipe {args.recipe!r}; choose from {', '.join(sorted(pretrain.RECIPES))}")
    if args.steps is not None and args.steps < 1:
        raise CourseError(f"--steps must be >= 1, got {args.steps}")
    if args.nproc < 1:
        raise CourseError(f"--nproc must be >= 1, got {args.nproc}")
    how = {"precision": args.precision, "accumulate": args.accumulate, "device": args.device}
    if args.recipe not in pretrain.SCALABLE_RECIPES and (args.nproc > 1 or any(v is not None for v in how.values())):
        raise CourseError(f"recipe {args.recipe!r} runs in one float32 process: --nproc, --precision, --accumulate "
                          f"and --device apply to {', '.join(pretrain.SCALABLE_RECIPES)}")
    from .distributed import launched_by_torchrun

    if args.device and args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CourseError(f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA GPU")
        if args.nproc > torch.cuda.device_count():
            raise CourseError(f"--nproc {args.nproc} with --device cuda needs a GPU per process; "
                              f"{torch.cuda.device_count()} found")
    if args.recipe in pretrain.SCALABLE_RECIPES:
        rows, parts = pretrain.GPT_RECIPE["batch_size"], args.nproc * (args.accumulate or 1)
        if rows % parts:
            raise CourseError(f"the global batch of {rows} rows does not split into {args.nproc} processes x "
                              f"{args.accumulate or 1} micro-batches")
    under_torchrun = launched_by_torchrun()
    if args.nproc > 1 and not under_torchrun:
        # Start the processes with torchrun, each running this same command
        # (without --nproc); the README shows the torchrun line to type directly.
        command = _torchrun_command(args)
        print(f"Starting {args.nproc} processes: {shlex.join(command)}", flush=True)
        return subprocess.call(command)
    main_process = os.environ.get("RANK", "0") == "0"
    out = Path(args.out) if args.out else pretrain.CHECKPOINTS
    if main_process:
        processes = f"{os.environ['WORLD_SIZE']} processes" if under_torchrun else "one process"
        print(f"Pretraining {args.recipe!r} (seed {args.seed}, {processes} of one thread, deterministic) into "
              f"{out}...", flush=True)
    try:
        result, paths = pretrain.pretrain(args.recipe, seed=args.seed, steps=args.steps, directory=out,
                                          progress=main_process, **how)
    except ImportError as error:  # a recipe whose chapter module is missing
        raise CourseError(str(error)) from None
    except ValueError as error:  # options that do not fit the recipe (batch split, precision name)
        raise CourseError(str(error)) from None
    for name, value in result.metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            print(f"  {name:<18} {value:.4g}" if isinstance(value, float) else f"  {name:<18} {value}")
    for path in paths:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def cmd_lab(args) -> int:
    root = grader.course_root()
    install_lab_setting_defaults()
    os.chdir(root)  # formgrader reads nbgrader_config.py from the working directory
    command = jupyter_lab_command(root, port=args.port, open_browser=not args.no_browser)
    env = grader.environment_with_commands()
    if os.name == "posix":
        # Become the server, so that Ctrl+C or a SIGTERM to `course lab` reaches JupyterLab itself
        # (a child process would be left running when its parent is killed).
        os.execve(command[0], command, env)
    return subprocess.call(command, env=env)


def cmd_doctor(args) -> int:
    """Print versions and settings, and what to fix for each problem found."""
    from .doctor import diagnose

    return diagnose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="Sequence Models from Scratch: your course companion.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="chapters, exercises, points and your progress")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="grade your notebook with the hidden tests (never modifies it)")
    p.add_argument("chapter", help="chapter number or name, e.g. 01")
    p.add_argument("--notebook", help="grade this file instead of notebooks/NN_topic/NN_topic.ipynb")
    p.add_argument("--timeout", type=int, default=grader.DEFAULT_CELL_TIMEOUT,
                   help="seconds a cell may run before it is stopped (default %(default)s)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("grade", help="(instructors) grade a class's submissions; a CSV of scores and integrity flags")
    p.add_argument("chapter")
    p.add_argument("--submitted", help="folder of <student>/<chapter>/<chapter>.ipynb (default: the course's submitted/)")
    p.add_argument("--out", help="the CSV to write (default: grades-<chapter>.csv in the course folder)")
    p.add_argument("--allow-flagged", action="store_true", help="award points to exercises the integrity report flags")
    p.add_argument("--timeout", type=int, default=grader.DEFAULT_CELL_TIMEOUT,
                   help="seconds a cell may run before it is stopped (default %(default)s)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("reset", help="restore a fresh notebook (your copy is saved with a timestamp first)")
    p.add_argument("chapter")
    p.set_defaults(func=cmd_reset)

    p = sub.add_parser("release", help="(instructors) regenerate notebooks/ from solutions/ with nbgrader")
    p.add_argument("chapters", nargs="*")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("run", help="(instructors) run a solution notebook and store its outputs")
    p.add_argument("chapter")
    p.add_argument("--fast", action="store_true", help="train briefly, as under autograde")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("pretrain", help="(instructors) train a shipped checkpoint from scratch, deterministically")
    p.add_argument("recipe", help="what to pretrain: a name in course_lib.pretrain.RECIPES (gpt, bert, assistant)")
    p.add_argument("--steps", type=int, help="training steps (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0, help="default %(default)s, the seed of the shipped files")
    p.add_argument("--out", help="folder to write into (default: the course's checkpoints/)")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes, started with torchrun (gpt only; default %(default)s)")
    p.add_argument("--precision", choices=["float32", "bfloat16", "float16"],
                   help="autocast precision (gpt only; default float32; float16 with a GradScaler, for CUDA)")
    p.add_argument("--accumulate", type=int, help="micro-batches per process per step (gpt only; default 1)")
    p.add_argument("--device", help="cpu or cuda (gpt only; default cpu; with cuda the processes use NCCL)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("lab", help="start JupyterLab on the course")
    p.add_argument("--port", type=int)
    p.add_argument("--no-browser", action="store_true")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("doctor", help="check the installation and say what to fix")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CourseError as error:
        print(f"course {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
