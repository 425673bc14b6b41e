"""_matchspec: conda's match specs and version order, answered as conda 26.7.1 answers them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _matchspec

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "matchspec" / "cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[f"{c['spec']}~{c['record'][1]}" for c in CASES])
def test_matches_like_conda(case):
    name, version, build = case["record"]
    record = {"name": name, "version": version, "build": build, "build_number": 0}
    if case["conda"] == "error":
        with pytest.raises(_matchspec.MatchSpecError):
            _matchspec.matches(record, _matchspec.parse(case["spec"]))
    else:
        assert _matchspec.matches(record, _matchspec.parse(case["spec"])) is case["conda"]


@pytest.mark.parametrize(
    ("low", "high"),
    # conda's documented order: 0.4 < 0.4.1.rc < 0.4.1 < 0.5a1 < 0.5b3 < 0.5C1 < 0.5 < 0.9.6 < 0.960923 < 1.0
    # < 1.1dev1 < 1.1a1 < 1.1.0dev1 < 1.1.a1 < 1.1.0rc1 < 1.1.0 == 1.1 < 1.1.0post1 < 1996.07.12 < 1!0.4.1
    [
        ("0.4", "0.4.1.rc"), ("0.4.1.rc", "0.4.1"), ("0.4.1", "0.5a1"), ("0.5a1", "0.5b3"), ("0.5b3", "0.5C1"),
        ("0.5C1", "0.5"), ("0.5", "0.9.6"), ("0.9.6", "0.960923"), ("0.960923", "1.0"), ("1.0", "1.1dev1"),
        ("1.1dev1", "1.1a1"), ("1.1a1", "1.1.0dev1"), ("1.1.0dev1", "1.1.a1"), ("1.1.a1", "1.1.0rc1"),
        ("1.1.0rc1", "1.1.0"), ("1.1.0", "1.1.0post1"), ("1.1.0post1", "1996.07.12"), ("1996.07.12", "1!0.4.1"),
    ],
)  # fmt: skip
def test_version_order_from_condas_documentation(low, high):
    assert _matchspec.Version(low) < _matchspec.Version(high)
    assert _matchspec.Version(high) >= _matchspec.Version(low)


def test_trailing_zeros_are_equal():
    assert _matchspec.Version("1.1") == _matchspec.Version("1.1.0") == _matchspec.Version("1.1.0.0")


@pytest.mark.parametrize("spec", ["", "==", ">=", "numpy >=", "numpy 1.2.3+a+b", "numpy ^1.2"])
def test_specs_conda_refuses_are_errors_not_tracebacks(spec):
    with pytest.raises(_matchspec.MatchSpecError):
        _matchspec.matches({"name": "numpy", "version": "1.2.3", "build": "0"}, _matchspec.parse(spec))
