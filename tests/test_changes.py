"""The 'what changed' report (config compare_to): estimates, certainty ratings and discrepancies that changed,
appeared or disappeared, with the input changes that explain them."""

from pathlib import Path

import pandas as pd
import pytest

from evsynth.report.changes import compare_runs, input_manifest, write_changes

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
POOLED = ["analysis", "subgroup", "variant", "k", "n", "estimate_bt", "ci_lb_bt", "ci_ub_bt", "i2", "studies",
          "converged"]


def pooled(rows):
    return pd.DataFrame(rows, columns=POOLED)


def run_dir(tmp_path: Path, name: str, tables: dict[str, pd.DataFrame], manifest: pd.DataFrame | None) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, frame in tables.items():
        frame.to_csv(folder / file, index=False)
    if manifest is not None:
        manifest.to_csv(folder / "run_inputs.csv", index=False)
    return folder


def manifest(studies: dict[str, str], config: dict[str, str]) -> pd.DataFrame:
    rows = [("study", k, v) for k, v in studies.items()] + [("config", k, v) for k, v in config.items()]
    return pd.DataFrame(rows, columns=["kind", "name", "sha256"])


@pytest.fixture()
def runs(tmp_path):
    before = pooled([
        ["sle", "all", "main", 2, 20.0, 0.5, 0.1, 0.9, 10.0, "a2020 (all);b2021 (all)", True],
        ["sle", "all", "leave out a2020 (all)", 1, 10.0, 0.4, 0.0, 0.8, 0.0, "b2021 (all)", True],
        ["ra", "all", "main", 2, 30.0, 1.5, 1.0, 2.0, 0.0, "c2019 (all);d2018 (all)", True],
    ])
    after = pooled([
        ["sle", "all", "main", 3, 35.0, 0.6, 0.2, 1.0, 12.0, "a2020 (all);b2021 (all);e2024 (all)", True],
        ["sle", "all", "leave out a2020 (all)", 1, 10.0, 0.4, 0.0, 0.8, 0.0, "b2021 (all)", True],
        ["sle", "all", "leave out e2024 (all)", 2, 20.0, 0.5, 0.1, 0.9, 10.0, "a2020 (all);b2021 (all)", True],
        ["ra", "all", "main", 2, 30.0, 1.5000000000001, 1.0, 2.0, 0.0, "c2019 (all);d2018 (all)", True],
    ])
    disc_cols = ["study", "group", "quantity", "timepoint", "value_a", "source_a", "value_b", "source_b", "kind"]
    disc_before = pd.DataFrame([["a2020", "P1", "n", "", 9, "text", 8, "table", "table_vs_text"]], columns=disc_cols)
    disc_after = pd.DataFrame(columns=disc_cols)
    old = run_dir(tmp_path, "old", {"pooled.csv": before, "discrepancies.csv": disc_before},
                  manifest({"a2020": "1", "b2021": "2", "c2019": "3", "d2018": "4"}, {"analyses.sle": "x", "harmonize": "h"}))
    new = run_dir(tmp_path, "new", {"pooled.csv": after, "discrepancies.csv": disc_after}, None)
    new_manifest = manifest({"a2020": "1b", "b2021": "2", "c2019": "3", "d2018": "4", "e2024": "5"},
                            {"analyses.sle": "x", "harmonize": "h"})
    current = {"pooled.csv": str(new / "pooled.csv"), "discrepancies.csv": str(new / "discrepancies.csv")}
    return old, current, new_manifest


def test_changed_estimates_name_the_field_and_why(runs):
    old, current, new_manifest = runs
    table = compare_runs(old, current, new_manifest)
    main = table[(table["key"] == "sle / all / main") & (table["change"] == "changed")]
    assert set(main["field"]) == {"k", "n", "estimate_bt", "ci_lb_bt", "ci_ub_bt", "i2", "studies"}
    est = main.set_index("field").loc["estimate_bt"]
    assert (est["before"], est["after"]) == ("0.5", "0.6")
    assert "studies added: e2024" in est["why"] and "new study records: e2024" in est["why"]
    assert "records changed: a2020" in est["why"]
    assert "config changed" not in est["why"]


def test_appeared_and_disappeared_rows_and_inputs_listed_first(runs):
    old, current, new_manifest = runs
    table = compare_runs(old, current, new_manifest)
    appeared = table[table["change"] == "appeared"]
    assert appeared["key"].tolist() == ["sle / all / leave out e2024 (all)"]
    gone = table[table["change"] == "disappeared"]
    assert gone["table"].tolist() == ["discrepancies"] and gone["key"].tolist()[0].startswith("a2020 / P1 / n")
    assert "records changed: a2020" in gone["why"].iloc[0]
    inputs = table[table["table"] == "inputs"]
    assert table.index[: len(inputs)].tolist() == inputs.index.tolist()
    assert set(zip(inputs["key"], inputs["change"])) == {("a2020", "changed"), ("e2024", "added")}


def test_a_difference_below_the_printed_precision_is_not_a_change(runs):
    old, current, new_manifest = runs
    table = compare_runs(old, current, new_manifest)
    assert not table["key"].str.startswith("ra / ").any()


def test_config_change_of_an_analysis_is_named(tmp_path):
    rows = [["sle", "all", "main", 2, 20.0, 0.5, 0.1, 0.9, 10.0, "a2020 (all);b2021 (all)", True]]
    old = run_dir(tmp_path, "old", {"pooled.csv": pooled(rows)}, manifest({"a2020": "1"}, {"analyses.sle": "x"}))
    rows[0][5] = 0.7
    new = run_dir(tmp_path, "new", {"pooled.csv": pooled(rows)}, None)
    table = compare_runs(old, {"pooled.csv": str(new / "pooled.csv")},
                         manifest({"a2020": "1"}, {"analyses.sle": "y"}))
    row = table[table["field"] == "estimate_bt"].iloc[0]
    assert row["why"] == "config changed: analyses.sle (changed)"


def test_missing_tables_and_missing_manifest_are_said_not_guessed(tmp_path):
    rows = [["sle", "all", "main", 2, 20.0, 0.5, 0.1, 0.9, 10.0, "a2020 (all)", True]]
    old = run_dir(tmp_path, "old", {"pooled.csv": pooled(rows)}, None)
    rows[0][5] = 0.7
    new = run_dir(tmp_path, "new", {"pooled.csv": pooled(rows),
                                    "summary_of_findings.csv": pd.DataFrame({"outcome": ["x"], "population": ["y"],
                                                                             "certainty": ["low"]})}, None)
    current = {"pooled.csv": str(new / "pooled.csv"), "summary_of_findings.csv": str(new / "summary_of_findings.csv")}
    table = compare_runs(old, current, manifest({"a2020": "1"}, {}))
    sof = table[table["table"] == "summary_of_findings"]
    assert sof[["key", "change", "why"]].values.tolist() == [["(table)", "appeared", "not in the previous run"]]
    est = table[table["field"] == "estimate_bt"].iloc[0]
    assert "previous run has no run_inputs.csv" in est["why"]
    with pytest.raises(FileNotFoundError, match="compare_to"):
        compare_runs(tmp_path / "nowhere", current, manifest({}, {}))


def test_certainty_rating_change(tmp_path):
    sof = pd.DataFrame({"outcome": ["sledai"], "population": ["adult"], "analysis": ["sle"], "certainty": ["low"],
                        "studies": ["a2020 (all)"]})
    old = run_dir(tmp_path, "old", {"summary_of_findings.csv": sof}, manifest({"a2020": "1"}, {"analyses.sle": "x"}))
    new = run_dir(tmp_path, "new", {"summary_of_findings.csv": sof.assign(certainty="very low")}, None)
    table = compare_runs(old, {"summary_of_findings.csv": str(new / "summary_of_findings.csv")},
                         manifest({"a2020": "2"}, {"analyses.sle": "x"}))
    row = table[table["table"] == "summary_of_findings"].iloc[0]
    assert (row["what"], row["key"], row["field"], row["before"], row["after"]) == (
        "certainty rating", "sledai / adult", "certainty", "low", "very low")
    assert row["why"] == "records changed: a2020"


def test_manifest_digests_each_study_and_each_analysis(tmp_path):
    config = {"analyses": {"a": {"effect": "MC"}, "b": {"effect": "PLO"}}, "harmonize": {"x": 1}, "compare_to": "z"}
    m = input_manifest(DATA / "studies", ROOT / "resources" / "vocabulary", DATA / "sources", config)
    names = set(zip(m["kind"], m["name"]))
    assert {("study", "demo2020"), ("source", "demo-paper.txt"), ("vocabulary", "terms.yaml"),
            ("config", "analyses.a"), ("config", "analyses.b"), ("config", "harmonize")} <= names
    assert ("config", "compare_to") not in names
    again = input_manifest(DATA / "studies", ROOT / "resources" / "vocabulary", DATA / "sources",
                           {**config, "analyses": {"a": {"effect": "MC"}, "b": {"effect": "OR"}}})
    changed = m.merge(again, on=["kind", "name"]).query("sha256_x != sha256_y")["name"].tolist()
    assert changed == ["analyses.b"]


def test_write_changes_summarises(tmp_path, runs):
    old, current, new_manifest = runs
    table = compare_runs(old, current, new_manifest)
    write_changes(table, tmp_path / "c.csv", tmp_path / "c.md", old)
    md = (tmp_path / "c.md").read_text()
    assert "1 appeared" in md and "1 disappeared" in md and "changed" in md
    assert pd.read_csv(tmp_path / "c.csv").shape[0] == len(table)
