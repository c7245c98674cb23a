"""The benchmark scripts run end to end and write their report (tiny sizes:
this checks that they work, not how fast anything is)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "report.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--threads", "1",
                    "--output", str(out), *args], check=True, cwd=ROOT, timeout=300,
                   capture_output=True, text=True)
    return out.read_text()


def test_attention_benchmark_reports_ratios(tmp_path):
    report = _run("bench_attention.py", tmp_path, "--batch", "2", "--seq", "16", "--d-model", "32",
                  "--heads", "4", "--d-ff", "64")
    assert "ours / torch" in report and "MHA forward" in report and "EncoderLayer" in report


def test_gpt_benchmark_reports_ratio_and_cache_speedup(tmp_path):
    report = _run("bench_gpt.py", tmp_path, "--batch", "2", "--block", "32", "--vocab", "64", "--layers", "1",
                  "--heads", "2", "--embd", "32", "--new-tokens", "32", "--prompt", "4")
    assert "ours / torch" in report and "training step" in report and "KV cache" in report


def test_scale_benchmark_reports_fraction_of_peak_and_plot(tmp_path):
    report = _run("bench_scale.py", tmp_path, "--batch", "2", "--vocab", "64", "--layers", "1", "--heads", "2",
                  "--block", "16", "--widths", "16", "32", "--width-seq", "16", "--seq-lens", "8", "16",
                  "--seq-width", "16", "--peak-sizes", "64")
    assert "Peak:" in report and "fraction of peak" in report and "| 32 | 16 |" in report
    assert (tmp_path / "report.png").stat().st_size > 0


def test_precision_benchmark_reports_loss_gap_and_time_ratio(tmp_path):
    report = _run("bench_precision.py", tmp_path, "--widths", "32")
    assert "largest difference" in report and "bfloat16 / float32" in report and "| 32 |" in report
    assert (tmp_path / "report.png").stat().st_size > 0


def test_processes_benchmark_runs_the_command_with_one_and_two_processes(tmp_path):
    out = tmp_path / "report.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_processes.py"), "--steps", "2", "--step-reps", "2",
                    "--output", str(out)], check=True, cwd=ROOT, timeout=300, capture_output=True, text=True)
    report = out.read_text()
    assert "| 1 |" in report and "| 2 |" in report and "wall s" in report
