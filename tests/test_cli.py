"""The command line: fit, predict, inspect, and its handling of bad input."""

import csv
import json
import os

import numpy as np
import pytest

from keras_taskneurons import cli
from keras_taskneurons.cli import fit as fit_command
from keras_taskneurons.cli import entry as cli_entry
from keras_taskneurons.cli import reports
from tests.helpers import ROOT, run_python

FAST = ["--epochs", "3", "--generations", "2", "--population", "40",
        "--hidden", "8", "--quiet"]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def regression_csv(path, n=120, extra=None):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (n, 3))
    y = (X**2).sum(axis=1)
    rows = [list(map(str, x)) + [str(t)] for x, t in zip(X, y)]
    if extra:
        extra(rows)
    return write_csv(path, ["a", "b", "c", "y"], rows)


# The main job on bundled data runs on every backend; the rest of the command
# line's checks (options, files, messages) do not depend on it and run in the
# TensorFlow pass (marked "once").


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def fitted_default(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    model = str(folder / "model.keras")
    code = cli.main(["fit", "--output", model, "--compare", *FAST])
    assert code == 0
    return folder, model


@pytest.fixture(scope="module")
def fitted_with_bases(tmp_path_factory):
    """A model whose layers have bases besides x (on diabetes with this small
    search the default fitness keeps x: no formula beats it held out)."""
    folder = tmp_path_factory.mktemp("fit_shared")
    model = str(folder / "model.keras")
    assert cli.main(["fit", "--output", model, "--fitness", "shared", *FAST]) == 0
    return folder, model


@pytest.mark.once
def test_the_command_line_searches_with_the_estimators_defaults():
    from keras_taskneurons import VectorizedSymbolicRegressor

    defaults = VectorizedSymbolicRegressor().get_params()
    args = cli_entry.make_parser().parse_args(["fit"])
    assert tuple(fit_command.parse_functions(args.functions)) == tuple(defaults["function_set"])
    assert args.parsimony == defaults["parsimony_coefficient"]
    assert args.fitness == defaults["fitness"]
    assert (args.population, args.generations) == (
        defaults["population_size"], defaults["generations"])


def test_fit_on_the_bundled_dataset_writes_model_and_report(fitted_default):
    folder, model = fitted_default
    report = json.loads((folder / "model.report.json").read_text())
    png = (folder / "model.report.png").read_bytes()
    assert len(png) > 1000
    # four panels: f, the front, learning curves and the trained layers' basis shares
    assert int.from_bytes(png[16:20], "big") == 1800
    assert report["source"] == "scikit-learn diabetes"
    assert report["features"][:3] == ["age", "sex", "bmi"]
    assert "x" in report["formula"] and report["formula_latex"]
    search = report["search"]
    from keras_taskneurons import Formula

    for entry in search["pareto_front"]:  # the readable string parses (hp.Choice values)
        assert Formula(entry["equation"]).complexity == entry["complexity"]
    assert search["interaction_rank"] == 0  # the default: the check is reported, not used
    assert set(search["interaction_losses"]) <= {"0", "1", "2", "4"}
    for name in ("task_network", "linear_network"):
        metrics = report["results"][name]["metrics"]
        assert set(metrics) == {"mse_normalized", "rmse", "r2"}
        assert np.isfinite(metrics["mse_normalized"])
    results = report["results"]
    assert results["linear_network"]["parameters"] >= results["task_network"]["parameters"]
    shares = results["task_network"]["basis_shares"]
    assert len(shares) == 1 and set(next(iter(shares.values()))) >= {"x"}  # --hidden 8
    assert all(abs(sum(s.values()) - 1.0) < 1e-6 for s in shares.values())
    functions = (folder / "model.functions.png").read_bytes()  # one panel per input
    assert functions[:8] == b"\x89PNG\r\n\x1a\n" and len(functions) > 1000


@pytest.mark.once
def test_the_verdict_names_the_winner_the_metrics_and_the_parameters():
    from keras_taskneurons.cli.reports import verdict

    def results(task_value, linear_value, metric):
        return {"task_network": {"metrics": {metric: task_value}, "parameters": 2817},
                "linear_network": {"metrics": {metric: linear_value}, "parameters": 2830}}

    line = verdict(results(0.3558, 0.3454, "mse_normalized"), "regression")
    assert line == ("test mse_normalized: task-based 0.3558 (2,817 parameters), linear (Dense) "
                    "0.3454 (2,830 parameters) - the linear network wins by 2.9 %")
    assert verdict(results(0.30, 0.40, "mse_normalized"), "regression").endswith(
        "the task-based network wins by 25.0 %")
    assert verdict(results(0.95, 0.90, "accuracy"), "classification").endswith(
        "the task-based network wins by 5.6 %")  # higher is better
    assert verdict(results(0.9, 0.9, "accuracy"), "classification").endswith("a tie")
    alone = {"task_network": results(0.9, 0.9, "accuracy")["task_network"]}
    assert verdict(alone, "classification") == "test accuracy: task-based 0.9000 (2,817 parameters)"


def test_the_report_picture_says_who_won(fitted_default, capsys, monkeypatch):
    """The picture's header holds the dataset, the metrics and the winner."""
    from keras_taskneurons.cli import reports

    titles = []
    original = reports.plot_report

    def spy(*args, header=None, **kwargs):
        titles.append(header)
        return original(*args, header=header, **kwargs)

    monkeypatch.setattr(fit_command, "plot_report", spy)
    folder, _ = fitted_default
    code, out, _ = run(["fit", "--output", str(folder / "again.keras"), "--compare", *FAST],
                       capsys)
    assert code == 0
    assert titles[0].startswith("scikit-learn diabetes: 442 rows, 10 features, f(x) = ")
    assert "wins by" in titles[0] or "a tie" in titles[0]
    assert titles[0].splitlines()[1] in out  # the same verdict line printed


@pytest.mark.once
def test_inspect_shows_the_formula(fitted_default, capsys):
    from keras_taskneurons import Formula

    folder, model = fitted_default
    report = json.loads((folder / "model.report.json").read_text())
    code, out, _ = run(["inspect", model], capsys)
    assert code == 0
    assert f"formula: {report['formula']}" in out
    assert "parameterization=terms" in out
    averages = out.split("on average over its units, each input goes through (x: its value):\n")[1]
    lines = averages.splitlines()[:10]  # diabetes: 10 inputs, named as the report names them
    assert [line.split(":")[0].strip() for line in lines] == report["features"]
    assert report["features"][:3] == ["age", "sex", "bmi"]
    Formula(lines[0].split(": ", 1)[1])  # a formula that parses
    os.rename(folder / "model.report.json", folder / "aside.json")
    try:  # without the report: the inputs' positions
        code, out, _ = run(["inspect", model], capsys)
    finally:
        os.rename(folder / "aside.json", folder / "model.report.json")
    assert code == 0 and "\n      0: " in out and "\n      9: " in out


def diabetes_csv(path, rows=80):
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return write_csv(path, list(data.feature_names),
                     [list(map(str, row)) for row in data.data[:rows]])


@pytest.mark.once
def test_inspect_with_data_shows_each_basis_share(fitted_default, tmp_path, capsys):
    folder, model = fitted_default
    source = diabetes_csv(tmp_path / "rows.csv")
    code, out, err = run(["inspect", model, "--data", source], capsys)
    assert code == 0, err
    lines = [line for line in out.splitlines() if "share of the output" in line]
    assert lines and all(" x " in line + " " for line in lines)
    shares = [float(part.split()[-1]) for part in lines[0].split(": ", 1)[1].split(", ")]
    assert abs(sum(shares) - 1.0) < 0.01


@pytest.mark.once
def test_prune_writes_a_smaller_model_and_its_report(fitted_with_bases, tmp_path, capsys):
    folder, model = fitted_with_bases
    source = diabetes_csv(tmp_path / "rows.csv")
    output = str(tmp_path / "pruned.keras")
    code, out, err = run(["prune", model, source, "--tolerance", "0.5", "--output", output],
                         capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "pruned.report.json").read_text())
    before, after = report["pruned"]["parameters"]
    assert after < before and f"parameters: {before} -> {after}" in out
    assert report["model"] == "pruned.keras" and report["pruned"]["removed"]
    code, out, err = run(["predict", output, source], capsys)  # the report serves predict
    assert code == 0, err
    code, _, err = run(["prune", model, source, "--tolerance", "-1", "--output",
                        str(tmp_path / "again.keras")], capsys)
    assert code == 2 and "--tolerance must be a non-negative number, got -1" in err
    code, _, err = run(["prune", model, source, "--output", output], capsys)
    assert code == 2 and "exists" in err


@pytest.mark.once
def test_predict_checks_columns_and_writes_predictions(fitted_default, tmp_path, capsys):
    from sklearn.datasets import load_diabetes

    folder, model = fitted_default
    data = load_diabetes()
    names = list(data.feature_names)
    # Columns in another order, plus an unused one: matched by name.
    header = ["unused"] + names[::-1]
    rows = [["1"] + list(map(str, row[::-1])) for row in data.data[:25]]
    source = write_csv(tmp_path / "new.csv", header, rows)
    out_path = str(tmp_path / "preds.csv")
    code, out, err = run(["predict", model, source, "--output", out_path], capsys)
    assert code == 0, err
    with open(out_path) as handle:
        predictions = list(csv.reader(handle))
    assert predictions[0] == ["prediction"] and len(predictions) == 26
    values = np.array([float(r[0]) for r in predictions[1:]])
    assert np.all(np.isfinite(values)) and values.std() > 0
    # The saved model includes the input scaling and the target scale.
    assert 0 < values.mean() < 400

    missing = write_csv(tmp_path / "missing.csv", names[:-1], [r[1:-1] for r in rows])
    code, _, err = run(["predict", model, missing], capsys)
    assert code == 2 and "lacks the column(s) the model was trained on: s6" in err


@pytest.mark.once
def test_fit_and_predict_a_classification_csv(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 3))
    labels = np.where((X**2).sum(axis=1) > 3, "far", "near")
    rows = [list(map(str, x)) + [label] for x, label in zip(X, labels)]
    source = write_csv(tmp_path / "points.csv", ["u", "v", "w", "kind"], rows)
    model = str(tmp_path / "clf.keras")
    code, out, err = run(
        ["fit", source, "--target", "kind", "--task", "classification", "--output", model,
         "--interaction-rank", "auto", *FAST],
        capsys,
    )
    assert code == 0, err
    assert "accuracy" in out and "interactions: held-out loss separable" in out
    report = json.loads((tmp_path / "clf.report.json").read_text())["search"]
    assert report["interaction_rank"] == report["interaction_rank_suggested"]
    code, out, err = run(["predict", model, source], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "prediction,probability_far,probability_near"
    assert len(lines) == 151
    assert {line.split(",")[0] for line in lines[1:]} <= {"far", "near"}


# --- bad input: one line on stderr, non-zero exit, nothing overwritten --------------------


@pytest.mark.once
def test_missing_csv(tmp_path, capsys):
    code, _, err = run(["fit", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "m.keras")], capsys)
    assert code == 2
    assert err.strip() == f"keras-taskneurons: error: CSV file not found: {tmp_path / 'nope.csv'}"


@pytest.mark.once
def test_missing_target_column(tmp_path, capsys):
    source = regression_csv(tmp_path / "d.csv")
    code, _, err = run(["fit", source, "--target", "price", "--output", str(tmp_path / "m.keras")], capsys)
    assert code == 2 and "target column 'price' is not in" in err and "a, b, c, y" in err


@pytest.mark.once
def test_non_numeric_feature_columns_are_named(tmp_path, capsys):
    def spoil(rows):
        rows[3][1] = "blue"
    source = regression_csv(tmp_path / "d.csv", extra=spoil)
    code, _, err = run(["fit", source, "--output", str(tmp_path / "m.keras")], capsys)
    assert code == 2 and "non-numeric feature column(s): b" in err


@pytest.mark.once
def test_rows_with_missing_values_are_counted_and_dropna_drops_them(tmp_path, capsys):
    def holes(rows):
        rows[0][0] = ""
        rows[5][2] = "NaN"
        rows[9][3] = "NA"
    source = regression_csv(tmp_path / "d.csv", extra=holes)
    model = str(tmp_path / "m.keras")
    code, _, err = run(["fit", source, "--output", model], capsys)
    assert code == 2 and "3 row(s) have missing values; pass --dropna" in err
    code, out, err = run(["fit", source, "--output", model, "--dropna", *FAST], capsys)
    assert code == 0, err
    assert "dropped 3 row(s)" in out


@pytest.mark.once
def test_unwritable_output_fails_before_any_work(tmp_path, capsys):
    source = regression_csv(tmp_path / "d.csv")
    code, out, err = run(["fit", source, "--output", str(tmp_path / "no" / "m.keras")], capsys)
    assert code == 2 and "does not exist" in err
    assert "step 1" not in out


@pytest.mark.once
def test_existing_model_is_not_overwritten(tmp_path, capsys):
    source = regression_csv(tmp_path / "d.csv")
    model = tmp_path / "m.keras"
    model.write_bytes(b"precious")
    code, _, err = run(["fit", source, "--output", str(model)], capsys)
    assert code == 2 and "--overwrite" in err
    assert model.read_bytes() == b"precious"


@pytest.mark.once
def test_a_missing_input_is_reported_before_an_existing_output(tmp_path, capsys):
    model = tmp_path / "m.keras"
    model.write_bytes(b"precious")
    missing = str(tmp_path / "missing.csv")
    code, _, err = run(["fit", missing, "--output", str(model)], capsys)
    assert code == 2 and "missing.csv" in err and "--overwrite" not in err
    # predict: the CSV is read before the output is checked.
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "m.report.json").write_text(json.dumps({"features": ["a"]}))
    (folder / "m.keras").write_bytes(b"x")
    out = folder / "out.csv"
    out.write_text("kept")
    code, _, err = run(["predict", str(folder / "m.keras"), missing, "--output", str(out)],
                       capsys)
    assert code == 2 and "missing.csv" in err and "--overwrite" not in err
    assert out.read_text() == "kept"


@pytest.mark.once
def test_a_failed_run_leaves_the_existing_model_intact(tmp_path, capsys, monkeypatch):
    source = regression_csv(tmp_path / "d.csv")
    model = tmp_path / "m.keras"
    model.write_bytes(b"precious")

    def broken_train(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fit_command, "train", broken_train)
    code, _, err = run(["fit", source, "--output", str(model), "--overwrite", *FAST], capsys)
    assert code == 1 and err.strip() == "keras-taskneurons: error: RuntimeError: disk on fire"
    assert model.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


@pytest.mark.once
def test_a_failed_report_write_leaves_no_model(tmp_path, capsys, monkeypatch):
    # The model and its report appear together or not at all.
    source = regression_csv(tmp_path / "d.csv")
    model = tmp_path / "m.keras"
    real_dumps = json.dumps

    def failing_dumps(value, *args, **kwargs):
        if isinstance(value, dict) and "formula_latex" in value:
            raise OSError("no space left on device")
        return real_dumps(value, *args, **kwargs)

    monkeypatch.setattr(json, "dumps", failing_dumps)  # the report writer's
    code, _, err = run(["fit", source, "--output", str(model), *FAST], capsys)
    assert code == 1 and "no space left" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


@pytest.mark.once
def test_write_together_removes_files_already_renamed(tmp_path, monkeypatch):
    first, second = tmp_path / "a.keras", tmp_path / "a.report.json"
    real_replace = os.replace

    def replace(source, target):
        if str(target) == str(second):
            raise OSError("rename failed")
        real_replace(source, target)

    monkeypatch.setattr(reports.os, "replace", replace)
    writers = [
        (str(first), lambda p: open(p, "w").write("model"), ".keras"),
        (str(second), lambda p: open(p, "w").write("report"), ".json"),
    ]
    with pytest.raises(OSError, match="rename failed"):
        reports.write_together(writers)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.once
def test_compare_gives_both_networks_the_same_recipe_and_seed(tmp_path, monkeypatch):
    built = []
    real_build = fit_command.build_network

    def recording_build(kind, *args, **kwargs):
        import keras

        model = real_build(kind, *args, **kwargs)
        built.append((kind, kwargs, [keras.ops.convert_to_numpy(w) for w in model.weights]))
        return model

    monkeypatch.setattr(fit_command, "build_network", recording_build)
    for run_index in range(2):
        model = tmp_path / f"m{run_index}.keras"
        assert cli.main(["fit", "--output", str(model), "--compare", "--activation", "relu",
                         *FAST, "--epochs", "1"]) == 0
    kinds = [kind for kind, _, _ in built]
    assert kinds == ["task", "linear", "task", "linear"]
    for _, kwargs, _ in built:
        assert kwargs["activation"] == "relu" and kwargs["seed"] == 0
    # Seeded before each network is built: the same initial weights each run.
    for first, second in ((built[0], built[2]), (built[1], built[3])):
        for a, b in zip(first[2], second[2]):
            np.testing.assert_array_equal(a, b)
    report = json.loads((tmp_path / "m0.report.json").read_text())
    assert report["settings"]["activation"] == "relu"
    # The check is reported, not used by default (--interaction-rank 0).
    assert built[0][1]["interaction_rank"] == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hidden", "8,x"], "--hidden must be positive integers"),
        (["--hidden", "0"], "--hidden must be positive integers"),
        (["--epochs", "0"], "--epochs must be positive"),
        (["--functions", "add,gamma"], "unknown function(s) 'gamma'"),
        (["--interaction-rank", "-1"], "--interaction-rank expected 'auto' or a non-negative integer"),
    ],
)
@pytest.mark.once
def test_bad_options(argv, message, tmp_path, capsys):
    code, _, err = run(["fit", "--output", str(tmp_path / "m.keras"), *argv], capsys)
    assert code == 2 and message in err


@pytest.mark.once
def test_predict_with_a_missing_or_broken_model(tmp_path, capsys):
    source = regression_csv(tmp_path / "d.csv")
    code, _, err = run(["predict", str(tmp_path / "none.keras"), source], capsys)
    assert code == 2 and "report" in err and "not found" in err
    code, _, err = run(["inspect", str(tmp_path / "none.keras")], capsys)
    assert code == 2 and "model file not found" in err
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    code, _, err = run(["inspect", str(broken)], capsys)
    assert code == 2 and err.startswith("keras-taskneurons: error: cannot load model")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.once
def test_console_entry_point_prints_one_line_and_no_traceback(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "keras_taskneurons", "fit", str(tmp_path / "none.csv"),
         "--output", str(tmp_path / "m.keras")],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("keras-taskneurons")]
    assert errors == [f"keras-taskneurons: error: CSV file not found: {tmp_path / 'none.csv'}"]
    assert "usage" in run_python(
        "import sys; from keras_taskneurons.cli.entry import make_parser; make_parser().print_help()"
    )
