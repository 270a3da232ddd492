"""The components are plain Python: they are tested without Prefect."""

import pytest

from my_data_workflow.components import ComponentA, ComponentB


def test_component_a_produces_records_one_to_n():
    assert ComponentA(4).run() == [1, 2, 3, 4]


def test_component_a_with_zero_records_produces_none():
    assert ComponentA(0).run() == []


def test_component_a_refuses_a_negative_count():
    with pytest.raises(ValueError, match="zero or more"):
        ComponentA(-1)


def test_component_b_scales_a_record():
    assert ComponentB().run(21) == 42
    assert ComponentB(factor=3).run(5) == 15
