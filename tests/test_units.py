"""parse_dose: every dose form the issue lists, and the forms that must be errors."""

import math

import pytest

from evsynth.harmonize.units import DAYS_PER_MONTH, Dose, DoseListError, DoseParseError, parse_dose, parse_dose_items


def close(a, b, rel=1e-12):
    return a is not None and math.isclose(a, b, rel_tol=rel)


@pytest.mark.parametrize(
    "text, cells",
    [
        ("100 × 10^6 cells", 100e6),
        ("100 × 106 cells", 100e6),  # scraped: superscript lost
        ("2×108 cells", 2e8),
        ("4×10(7) cells per time", 4e7),
        ("379 × 106", 379e6),  # an item of a list split by the extractor; no unit -> total, flagged
        ("120 × 106 MSCs", 120e6),
        ("1.4x10 (6)", 1.4e6),
        ("2e6 cells", 2e6),
        ("1 × 10⁶ cells", 1e6),
        ("1.5 million cells", 1.5e6),
    ],
)
def test_total_cells(text, cells):
    d = parse_dose(text)
    assert d.cells == pytest.approx(cells, rel=1e-12)
    assert d.cells_per_kg is None
    assert d.text == text


def test_unit_not_stated_is_flagged():
    assert "unit not stated" in parse_dose("379 × 106").rule
    assert "unit not stated" in parse_dose("1.4x10 (6)").rule


@pytest.mark.parametrize(
    "text, per_kg",
    [
        ("1 × 10 6 /kg", 1e6),
        ("1.8 × 106 cells/kg/dose", 1.8e6),
        ("3.3 × 10 6 /kg/dose", 3.3e6),
        ("2 million/kg", 2e6),
        ("one million cells per kilogram", 1e6),
        ("1 × 106 autologous bone marrow-derived MSCs/kg", 1e6),
        ("1.0 × 106/kg", 1e6),
        ("1 million/kg (cohort A)", 1e6),
        ("2 × 106 cells/kg for each infusion twice a week for 4 weeks", 2e6),
    ],
)
def test_per_kg(text, per_kg):
    d = parse_dose(text)
    assert d.cells_per_kg == pytest.approx(per_kg, rel=1e-12)
    assert d.cells is None
    assert d.implied_weight_kg is None


def test_missing_slash_before_kg_is_read_and_flagged():
    d = parse_dose("1.0 × 106 kg")
    assert d.cells_per_kg == pytest.approx(1e6)
    assert "'/' missing" in d.rule


def test_plain_106_is_a_number():
    d = parse_dose("106 cells")
    assert d.cells == 106
    assert "lost exponent" in d.rule


def test_total_and_per_kg_together_imply_weight():
    d = parse_dose("100 × 106 cells; approximately 1.8 × 106 cells/kg/dose")
    assert d.cells == pytest.approx(1e8)
    assert d.cells_per_kg == pytest.approx(1.8e6)
    assert d.implied_weight_kg == pytest.approx(1e8 / 1.8e6)
    assert d.approximate
    assert d.cells_per_kg_round == pytest.approx(0.05e6)
    assert d.cells_round == pytest.approx(0.5e6)
    d = parse_dose("120.6 × 106 cells; 1.9 × 106 MSCs/kg/dose")
    assert (d.cells, d.cells_per_kg) == (pytest.approx(120.6e6), pytest.approx(1.9e6))
    assert d.implied_weight_kg == pytest.approx(120.6 / 1.9)
    assert d.cells_round == pytest.approx(0.05e6)
    d = parse_dose("60 × 106 MSCs; 1.2 × 106 MSCs/kg/dose")
    assert d.implied_weight_kg == pytest.approx(50.0)


def test_volume_times_concentration():
    d = parse_dose("40 mL of 2 × 10^7 cells/20 mL")
    assert d.cells == pytest.approx(4e7)
    assert d.volume_ml == 40
    assert "40 mL x 2e+07 cells/20 mL" in d.rule


def test_volume_with_total():
    d = parse_dose("1 cc of Wharton’s Jelly MSC; 1.1 × 106 MSCs")
    assert d.cells == pytest.approx(1.1e6)
    assert d.volume_ml == 1
    assert d.cells_per_kg is None


@pytest.mark.parametrize(
    "text, lo, hi, per_kg",
    [
        ("1-2 × 10^6/kg", 1e6, 2e6, True),
        ("0.7–1.0×10^6/kg", 0.7e6, 1.0e6, True),
        ("1 to 2 million/kg", 1e6, 2e6, True),
        ("2.5 × 107–1 × 108 cells", 2.5e7, 1e8, False),
    ],
)
def test_ranges_have_no_midpoint(text, lo, hi, per_kg):
    d = parse_dose(text)
    if per_kg:
        assert (d.cells_per_kg_low, d.cells_per_kg_high) == (pytest.approx(lo), pytest.approx(hi))
        assert d.cells_per_kg is None
    else:
        assert (d.cells_low, d.cells_high) == (pytest.approx(lo), pytest.approx(hi))
        assert d.cells is None
    assert "no midpoint" in d.rule


def test_list_is_an_error_with_items():
    text = "379 × 106, 256 × 106, and 393 × 106 cells"
    with pytest.raises(DoseListError) as e:
        parse_dose(text)
    assert text in str(e.value) and "lists 3" in str(e.value)
    items = parse_dose_items(text)
    assert [d.cells for d in items] == [pytest.approx(379e6), pytest.approx(256e6), pytest.approx(393e6)]
    with pytest.raises(DoseListError):
        parse_dose("2.5 × 107, 5 × 107, or 1 × 108 cells")


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty"),
        (None, "empty"),
        (float("nan"), "empty"),
        ("cells", "no number"),
        ("not reported", "no number"),
        ("1C2 106 kg", "encoding artefact"),
        ("10 (6)", "without a mantissa"),
        ("1 × 10 autologous bone marrow-derived MSCs/kg", "without its exponent"),
        ("median 1.55 (ranging from 0.84 to 2.56) × 106/kg", "without its exponent or mantissa"),
        ("1.4x10 (6) (min-max range 0.4-9x10 (6)) cells per kg", "cannot tell whether"),
        ("1 × 1000 cells", "not a power of ten"),
        ("40 mL", "only a volume"),
        ("5 × 10^6 cells/mL", "without the volume"),
        ("55 kg", "no role"),
    ],
)
def test_errors_name_the_text_and_reason(text, why):
    with pytest.raises(DoseParseError) as e:
        parse_dose(text)
    assert why in str(e.value)
    assert repr(text) in str(e.value)
    assert isinstance(e.value, ValueError)


def test_dose_is_frozen():
    d = parse_dose("1 × 10^6 cells/kg")
    assert isinstance(d, Dose)
    with pytest.raises(Exception):
        d.cells = 1  # type: ignore[misc]


def test_days_per_month():
    assert DAYS_PER_MONTH == 365.25 / 12
