"""The regression gate's pure parts: the decision rule, AP, the paired bootstrap, the
wording, --fail-on. Real runs are judged in tests/test_gate_runs.py and test_pipeline.py.
"""

import math

import pytest

from wrapper.errors import GateRefused, InputError
from wrapper.gate import (
    COLLAPSE_SPREAD,
    MIN_INFORMATIVE_QUERIES,
    GateResult,
    advice_for,
    average_precision,
    decide,
    enforce,
    general_verdict,
    paired_bootstrap,
    parse_fail_on,
)


@pytest.mark.parametrize(
    "base, fine, spread, ci, general, verdict",
    [
        (0.60, 0.65, 0.5, None, (), "improved"),
        (0.60, 0.65, 0.5, (0.01, 0.09), (), "improved"),
        # a gain the interval cannot tell from noise is not an improvement
        (0.60, 0.65, 0.5, (-0.02, 0.12), (), "no_better"),
        (0.60, 0.603, 0.5, (0.001, 0.005), (), "no_better"),  # within the tolerance
        (0.60, 0.597, 0.5, None, (), "no_better"),
        (0.60, 0.50, 0.5, (-0.15, -0.05), (), "regressed"),
        (0.60, 0.50, 0.5, (-0.25, 0.03), (), "no_better"),  # a loss the interval cannot confirm
        # improved in domain, forgot in general: not a success
        (0.60, 0.70, 0.5, (0.05, 0.15), ("kept", "forgot"), "forgot"),
        (0.60, 0.70, 0.5, (0.05, 0.15), ("kept", "unclear"), "improved"),
        # forgetting only matters when the in-domain gain is real
        (0.60, 0.50, 0.5, (-0.15, -0.05), ("forgot",), "regressed"),
        # a model that scores every probe pair the same is collapsed, whatever its MAP
        (0.60, 0.70, COLLAPSE_SPREAD / 2, (0.05, 0.15), (), "collapsed"),
        (0.60, 0.10, 0.0, None, (), "collapsed"),
    ],
)
def test_decide(base, fine, spread, ci, general, verdict):
    assert decide(base, fine, spread, ci=ci, general_verdicts=general) == verdict


def test_a_split_that_cannot_tell_the_models_apart_is_inconclusive():
    assert decide(1.0, 1.0, 0.5, ci=(0.0, 0.0)) == "inconclusive"
    assert decide(0.998, 0.999, 0.5) == "inconclusive"
    # ... but falling below a perfect base is still a real regression
    assert decide(1.0, 0.90, 0.5, ci=(-0.15, -0.05)) == "regressed"
    few = MIN_INFORMATIVE_QUERIES - 1
    assert decide(0.6, 0.9, 0.5, informative_queries=few) == "inconclusive"
    assert decide(0.6, 0.3, 0.5, informative_queries=few) == "inconclusive"
    assert decide(0.6, 0.9, 0.5, informative_queries=MIN_INFORMATIVE_QUERIES) == "improved"
    assert decide(0.6, 0.9, 0.0, informative_queries=0) == "collapsed"


def test_decide_needs_scores_unless_collapsed():
    assert decide(None, None, 0.0) == "collapsed"
    with pytest.raises(ValueError, match="both scores"):
        decide(None, 0.5, 1.0)


@pytest.mark.parametrize(
    "delta, ci, informative, verdict",
    [
        (-0.20, (-0.30, -0.10), 50, "forgot"),
        (-0.20, (-0.45, 0.02), 50, "unclear"),  # beyond the tolerance, but the interval includes 0
        (-0.005, (-0.02, 0.01), 50, "kept"),  # within the 0.01 general tolerance
        (0.10, (0.05, 0.15), 50, "kept"),
        (-0.20, (-0.30, -0.10), MIN_INFORMATIVE_QUERIES - 1, "inconclusive"),
    ],
)
def test_general_verdict(delta, ci, informative, verdict):
    assert general_verdict(delta, ci, informative_queries=informative) == verdict


def test_average_precision_known_answers():
    assert average_precision([0.9, 0.8, 0.7], [1, 0, 0]) == 1.0
    assert average_precision([0.9, 0.8, 0.7], [0, 0, 1]) == pytest.approx(1 / 3)
    assert average_precision([0.9, 0.8, 0.7], [0, 1, 1]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="relevant"):
        average_precision([0.1, 0.2], [0, 0])


def test_ties_are_neither_relevant_first_nor_last():
    # a constant scorer must not look perfect: ties are broken by the passage text's hash
    texts = [f"passage {i}" for i in range(40)]
    labels = [1] + [0] * 39
    aps = [average_precision([0.5] * 40, labels, texts[i:] + texts[:i]) for i in range(40)]
    assert 0.02 < sum(aps) / len(aps) < 0.5
    assert len(set(aps)) > 5


def test_bootstrap_of_a_constant_difference_is_that_difference():
    base = [0.2, 0.5, 0.9, 0.4] * 10
    fine = [b + 0.1 for b in base]
    delta, low, high = paired_bootstrap(base, fine)
    assert delta == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)


def test_bootstrap_interval_matches_the_normal_approximation():
    # differences of +d and -d in equal numbers: mean 0, standard error d / sqrt(n)
    n, d = 200, 0.3
    base = [0.5] * n
    fine = [0.5 + (d if i % 2 else -d) for i in range(n)]
    delta, low, high = paired_bootstrap(base, fine)
    half = 1.96 * d / math.sqrt(n)
    assert delta == pytest.approx(0.0, abs=1e-12)
    assert low == pytest.approx(-half, rel=0.15) and high == pytest.approx(half, rel=0.15)
    # the pairing matters: the same spread of base scores across queries adds no width
    base2 = [0.1 + 0.8 * (i % 7) / 6 for i in range(n)]
    fine2 = [b + (d if i % 2 else -d) for i, b in enumerate(base2)]
    _, low2, high2 = paired_bootstrap(base2, fine2)
    assert high2 - low2 == pytest.approx(high - low, rel=0.2)
    # reproducible: the verdict never flips between two runs on the same scores
    assert paired_bootstrap(base2, fine2) == paired_bootstrap(base2, fine2)


def test_bootstrap_needs_paired_queries():
    with pytest.raises(ValueError, match="same queries"):
        paired_bootstrap([0.1, 0.2], [0.3])
    with pytest.raises(ValueError, match="no queries"):
        paired_bootstrap([], [])


def _result(**kw):
    base = dict(verdict="improved", metric="map_at_1000", base=0.6, fine_tuned=0.7, delta=0.1, spread=0.4,
                probe_pairs=80, tolerance=0.005, advice="ship it.", ci=[0.05, 0.15],
                details={"validation_queries": 38})
    base.update(kw)
    return GateResult(**base)


def test_the_sentence_prints_the_interval_and_every_general_set():
    general = [{"name": "general-en-zh", "source": "x", "base": 0.72, "fine_tuned": 0.70, "delta": -0.02,
                "ci": [-0.05, 0.01], "queries": 60, "verdict": "unclear"}]
    text = _result(general=general).sentence()
    assert text.splitlines()[0] == "IMPROVED: map_at_1000 0.7000 vs base 0.6000 (+0.1000, 95% CI +0.0500..+0.1500, 38 queries)"
    assert "general-en-zh" in text and "(-0.0200, 95% CI -0.0500..+0.0100, 60 queries)  unclear" in text
    assert "what to try" not in text
    assert "general-domain check: none" in _result().sentence()


def test_forgot_is_not_a_success_and_names_the_merge_and_the_loss():
    lost = [{"name": "scifact-dev", "base": 0.588, "fine_tuned": 0.330, "delta": -0.258}]
    advice = advice_for("forgot", "cross-encoder", fresh_head=True, steps=100, run="cmrc-ce", forgot=lost)
    result = _result(verdict="forgot", advice=advice, general=[{**lost[0], "source": "x", "ci": [-0.3, -0.2],
                                                                "queries": 150, "verdict": "forgot"}])
    assert not result.ok
    text = result.sentence()
    assert text.startswith("FORGOT: in domain IMPROVED")
    assert "autorerank merge cmrc-ce --auto" in text
    assert "scifact-dev 0.5880 -> 0.3300 (-0.2580)" in text


def test_an_inconclusive_verdict_says_why():
    why = "only 3 of the 40 validation queries have a negative to rank against (at least 5 needed)"
    result = _result(verdict="inconclusive", details={"inconclusive_because": why},
                     advice=advice_for("inconclusive", "bi-encoder", fresh_head=False, steps=10))
    assert not result.ok
    assert why in result.sentence()
    assert "autorerank eval" in result.sentence()


def test_a_stored_verdict_round_trips():
    result = _result(general=[{"name": "g", "verdict": "kept"}])
    data = {**result.to_dict(), "a_key_from_a_later_version": 1}
    assert GateResult.from_dict(data) == result


def test_advice_names_the_likely_cause_for_a_fresh_cross_encoder_head():
    text = advice_for("collapsed", "cross-encoder", fresh_head=True, steps=65)
    assert "65 steps" in text and "bge-reranker-base" in text and "GPU" in text


def test_fail_on_parses_and_refuses():
    assert parse_fail_on(None) == set()
    assert parse_fail_on("regressed, collapsed") == {"regressed", "collapsed"}
    assert "improved" not in parse_fail_on("any") and "forgot" in parse_fail_on("any")
    with pytest.raises(InputError, match="unknown verdict 'regresed'"):
        parse_fail_on("regresed")
    enforce({"a": "improved"}, {"regressed"})
    with pytest.raises(GateRefused, match="a: regressed") as err:
        enforce({"a": "regressed", "b": "improved"}, {"regressed"})
    assert err.value.exit_code == 3
