"""course_lib.training: the fit loop (headless and in a kernel) and safetensors checkpoints."""
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import training
from course_lib.rnn import CharLM
from course_lib.training import fit, load_checkpoint, read_checkpoint_config, save_checkpoint


def _regression_problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 4, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    torch.manual_seed(seed)
    model = nn.Linear(4, 1)

    def batch_fn(step):
        ix = torch.randint(256, (32,), generator=gen)
        return x[ix], y[ix]

    def loss_fn(model, batch):
        xb, yb = batch
        return F.mse_loss(model(xb).squeeze(-1), yb)

    return model, batch_fn, loss_fn, (x, y)


def test_fit_headless_loss_decreases_and_history_is_complete():
    model, batch_fn, loss_fn, (x, y) = _regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    calls = []

    def eval_fn(m):
        calls.append(m.training)
        return {"val_mse": F.mse_loss(m(x).squeeze(-1), y).item()}

    hist = fit(model, opt, batch_fn, loss_fn, steps=60, eval_fn=eval_fn, eval_every=25,
               progress=False, live_plot=True)  # live_plot is ignored outside a kernel
    assert hist["step"] == list(range(1, 61))
    assert len(hist["loss"]) == len(hist["grad_norm"]) == len(hist["lr"]) == 60
    assert hist["eval_step"] == [25, 50, 60]
    assert len(hist["val_mse"]) == 3 and hist["val_mse"][-1] < 0.1 * hist["val_mse"][0]
    assert sum(hist["loss"][-10:]) < 0.05 * sum(hist["loss"][:10])
    assert calls == [False, False, False] and model.training  # eval mode during eval only
    assert hist["lr"][0] == 0.05


def test_fit_clips_and_records_norm_before_clipping():
    model, batch_fn, loss_fn, _ = _regression_problem()
    seen = []
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    original_step = opt.step

    def step_and_record(*args, **kwargs):
        seen.append(torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item())
        return original_step(*args, **kwargs)

    opt.step = step_and_record
    hist = fit(model, opt, batch_fn, loss_fn, steps=5, clip_norm=0.5, progress=False)
    assert all(n > 0.5 for n in hist["grad_norm"])  # the raw norms are large here
    assert all(s == pytest.approx(0.5, rel=1e-4) for s in seen)  # what the optimizer saw


def test_fit_with_float_eval_scheduler_and_progress_bar(capsys, monkeypatch):
    for name in ("NBGRADER_EXECUTION", "COURSE_FAST"):
        monkeypatch.delenv(name, raising=False)
    model, batch_fn, loss_fn, _ = _regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    hist = fit(model, opt, batch_fn, loss_fn, steps=4, eval_fn=lambda m: 1.5, scheduler=sched, progress=True)
    assert hist["eval"] == [1.5] * 4 and hist["eval_step"] == [1, 2, 3, 4]  # default: 10 evals per run, at most one per step
    assert hist["lr"] == pytest.approx([0.01 / 2, 0.01 / 3, 0.01 / 4, 0.01 / 5])
    assert "training" in capsys.readouterr().err  # tqdm writes to stderr in a terminal


@pytest.mark.parametrize("switch", ["NBGRADER_EXECUTION", "COURSE_FAST"])
def test_fit_under_the_grader_evaluates_after_the_last_step_only(monkeypatch, switch):
    """Fast mode's few steps prove the code runs; evaluating at each of them cost more than training."""
    for name in ("NBGRADER_EXECUTION", "COURSE_FAST"):
        monkeypatch.delenv(name, raising=False)
    model, batch_fn, loss_fn, _ = _regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    calls = []
    eval_fn = lambda m: calls.append(m.training) or 1.0  # noqa: E731
    assert fit(model, opt, batch_fn, loss_fn, steps=20, eval_fn=eval_fn, eval_every=1, progress=False)["eval_step"] \
        == list(range(1, 21))
    monkeypatch.setenv(switch, "1")
    hist = fit(model, opt, batch_fn, loss_fn, steps=20, eval_fn=eval_fn, eval_every=1, progress=False)
    assert hist["eval_step"] == [20] and hist["eval"] == [1.0] and calls[-1] is False


def test_fit_stops_on_nan_with_advice():
    model, batch_fn, _, _ = _regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match="step 1.*learning rate"):
        fit(model, opt, batch_fn, lambda m, b: m(b[0]).sum() * float("nan"), steps=3, progress=False)


def test_live_plot_updates_one_display_in_place(monkeypatch):
    pytest.importorskip("IPython")
    import IPython.display

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj))

    def fake_display(obj, display_id=False):
        shown.append(("display", obj))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(training, "_in_jupyter_kernel", lambda: True)
    model, batch_fn, loss_fn, (x, y) = _regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    fit(model, opt, batch_fn, loss_fn, steps=30, eval_fn=lambda m: {"val": 1.0}, progress=False, live_plot=True)
    kinds = [k for k, _ in shown]
    assert kinds[0] == "display" and kinds.count("display") == 1 and kinds[-1] == "update"
    assert shown[-1][1].data[:8] == b"\x89PNG\r\n\x1a\n"
    shown.clear()
    fit(model, opt, batch_fn, loss_fn, steps=3, progress=False)  # live_plot defaults to off
    assert shown == []


def test_fit_runs_in_a_notebook_kernel(tmp_path):
    """The progress bar and live plot work under nbclient, as in nbval and nbgrader."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = (
        "import torch, torch.nn as nn, torch.nn.functional as F\n"
        "from course_lib.training import fit\n"
        "m = nn.Linear(2, 1); opt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
        "x = torch.randn(16, 2); y = x.sum(1, keepdim=True)\n"
        "h = fit(m, opt, lambda s: (x, y), lambda m, b: F.mse_loss(m(b[0]), b[1]), 20, live_plot=True)\n"
        "print('final', round(h['loss'][-1], 3) < round(h['loss'][0], 3))\n"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("final True" in o.get("text", "") for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the live plot, updated in place


# --- checkpoints

def test_checkpoint_round_trip_into_class_and_instance(tmp_path):
    torch.manual_seed(0)
    model = CharLM(vocab_size=9, embed_dim=4, hidden_size=6, cell_type="gru")
    path = tmp_path / "lm.safetensors"
    save_checkpoint(model, path, model.config)
    assert read_checkpoint_config(path) == model.config
    idx = torch.randint(9, (2, 5))
    expected = model(idx)[0]

    rebuilt = load_checkpoint(CharLM, path)
    torch.testing.assert_close(rebuilt(idx)[0], expected)

    torch.manual_seed(1)
    other = CharLM(vocab_size=9, embed_dim=4, hidden_size=6, cell_type="gru")
    assert load_checkpoint(other, path) is other
    torch.testing.assert_close(other(idx)[0], expected)


def test_checkpoint_is_safetensors_with_json_config(tmp_path):
    from safetensors import safe_open

    model = nn.Linear(3, 2)
    path = tmp_path / "lin.safetensors"
    save_checkpoint(model, path, {"in_features": 3, "out_features": 2})
    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["course_lib_config"]) == {"in_features": 3, "out_features": 2}
        assert sorted(f.keys()) == ["bias", "weight"]
    loaded = load_checkpoint(nn.Linear, path)
    torch.testing.assert_close(loaded.weight, model.weight)


def test_checkpoint_refuses_mismatched_config_and_shapes(tmp_path):
    path = tmp_path / "lm.safetensors"
    save_checkpoint(CharLM(9, 4, 6), path)  # config defaults to model.config
    with pytest.raises(ValueError, match=r"different config: hidden_size: file 6, model 8"):
        load_checkpoint(CharLM(9, 4, 8), path)
    with pytest.raises(ValueError, match=r"cell_type: file 'lstm', model 'gru'"):
        load_checkpoint(CharLM(9, 4, 6, cell_type="gru"), path)
    bare = nn.Sequential(nn.Linear(3, 2))
    save_checkpoint(bare, tmp_path / "seq.safetensors", {"n": 1})
    with pytest.raises(ValueError, match=r"0.weight: file \(2, 3\), model \(4, 3\)"):
        load_checkpoint(nn.Sequential(nn.Linear(3, 4)), tmp_path / "seq.safetensors")
    with pytest.raises(ValueError, match="missing from the file"):
        load_checkpoint(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)), tmp_path / "seq.safetensors")
    with pytest.raises(ValueError, match="config"):
        load_checkpoint(nn.Sequential(nn.Linear(3, 2)), tmp_path / "seq.safetensors", config={"n": 2})


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(nn.Linear(1, 1), tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_checkpoint(nn.Linear(1, 1), junk)
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(nn.Linear(1, 1), tmp_path / "x.safetensors", {"f": object()})


def test_tied_weights_can_be_saved(tmp_path):
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5, bias=False))
    model[1].weight = model[0].weight  # weight tying, as GPT does
    save_checkpoint(model, tmp_path / "tied.safetensors", {})
    fresh = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5, bias=False))
    fresh[1].weight = fresh[0].weight
    load_checkpoint(fresh, tmp_path / "tied.safetensors")
    torch.testing.assert_close(fresh[0].weight, model[0].weight)


# --- plotting (headless)

def test_plots_return_axes_without_showing(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.plotting import plot_curves, plot_gradient_norms, plot_heatmap
    from course_lib.rnn import gradient_norm_by_distance

    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plotting must not call plt.show()"))
    ax = plot_curves({"train": [3.0, 2.0, 1.5], "val": ([0, 2], torch.tensor([3.1, 1.9]))},
                     title="loss", logy=True)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "val"] and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="curve 'bad'"):
        plot_curves({"bad": ([0, 1, 2], [1.0, 2.0])})
    _, (a1, a2) = plt.subplots(1, 2)
    assert plot_heatmap(torch.rand(2, 3), xlabels=list("abc"), ylabels=["x", "y"], annotate=True, ax=a1) is a1
    with pytest.raises(ValueError, match="xlabels has 2 labels for 3 columns"):
        plot_heatmap(torch.rand(2, 3), xlabels=["a", "b"], ax=a2)
    norms = {"rnn": gradient_norm_by_distance("rnn", 8, 10), "lstm": gradient_norm_by_distance("lstm", 8, 10)}
    ax = plot_gradient_norms(norms)
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    plt.close("all")


def test_checkpoint_takes_a_dataclass_config(tmp_path):
    import dataclasses

    @dataclasses.dataclass
    class Config:
        size: int = 3

    class Model(nn.Module):
        def __init__(self, config: Config):
            super().__init__()
            self.config = config
            self.linear = nn.Linear(config.size, 2)

    path = tmp_path / "m.safetensors"
    training.save_checkpoint(Model(Config(3)), path)
    assert training.read_checkpoint_config(path) == {"size": 3}
    training.load_checkpoint(Model(Config(3)), path)
    with pytest.raises(ValueError, match="size: file 3, model 4"):
        training.load_checkpoint(Model(Config(4)), path)


def test_the_schedules_stay_importable_where_the_chapters_use_them():
    from course_lib import bert, pretrain, transformer

    assert transformer.warmup_inverse_sqrt_lr is training.warmup_inverse_sqrt_lr
    assert transformer.warmup_inverse_sqrt_scheduler is training.warmup_inverse_sqrt_scheduler
    assert pretrain.warmup_cosine_lr is training.warmup_cosine_lr
    assert bert.warmup_linear_decay is training.warmup_linear_decay
