from __future__ import annotations

import json
from pathlib import Path

import pytest

from banditroute import ModelProfile, Registry, RegistryError, UnknownModel, example_registry_path
from tests.conftest import make_model


def test_example_registry_has_the_eleven_routerbench_models_with_sources() -> None:
    reg = Registry.load(example_registry_path())
    assert len(reg) == 11
    assert reg["gpt-4-1106-preview"].input_usd_per_mtok == 10.0
    assert reg["gpt-4-1106-preview"].output_usd_per_mtok == 30.0
    assert all(m.source for m in reg)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_save_then_load_gives_the_same_models(tmp_path: Path, suffix: str) -> None:
    reg = Registry.load(example_registry_path())
    path = tmp_path / f"models{suffix}"
    reg.save(path)
    again = Registry.load(path)
    assert list(again) == list(reg)


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(RegistryError, match="must be unique"):
        Registry([make_model("a"), make_model("a")])


def test_negative_price_error_names_field_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "model": [
                    {"id": "x", "provider": "p", "input_usd_per_mtok": -1, "output_usd_per_mtok": 1}
                ]
            }
        )
    )
    with pytest.raises(RegistryError, match=r"input_usd_per_mtok == -1"):
        Registry.load(path)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[model]]\nid="x"\nprovider="p"\ninput_usd_per_mtok=1\n'
        'output_usd_per_mtok=1\ncolour="red"\n'
    )
    with pytest.raises(RegistryError, match="colour"):
        Registry.load(path)


@pytest.mark.parametrize("text", ["not = [valid", "[[model]]\nid = 3\n", "model = 5\n", "x = 1\n"])
def test_malformed_files_raise_registry_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RegistryError):
        Registry.load(path)


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        Registry.load(tmp_path / "nope.toml")
    (tmp_path / "m.yaml").write_text("")
    with pytest.raises(RegistryError, match=r"\.toml or \.json"):
        Registry.load(tmp_path / "m.yaml")


def test_capabilities_must_be_a_list_not_a_string() -> None:
    with pytest.raises(RegistryError, match="capabilities"):
        make_model("x", capabilities="code")


def test_add_remove_deprecate_keep_history() -> None:
    reg = Registry([make_model("a")])
    reg.add(make_model("b"))
    reg.deprecate("a", replacement="b")
    assert reg["a"].deprecated and reg["a"].replacement == "b"
    assert [m.id for m in reg.active()] == ["b"]
    removed = reg.remove("b")
    assert removed.id == "b" and "b" not in reg
    assert [(c.action, c.model_id) for c in reg.history] == [
        ("add", "a"),
        ("add", "b"),
        ("deprecate", "a"),
        ("remove", "b"),
    ]


def test_unknown_model_and_bad_replacement() -> None:
    reg = Registry([make_model("a")])
    with pytest.raises(UnknownModel, match="'zzz' is not in the registry"):
        reg["zzz"]
    with pytest.raises(RegistryError, match="replacement"):
        reg.deprecate("a", replacement="zzz")


def test_profiles_are_frozen_and_cost_is_linear() -> None:
    m = ModelProfile(id="m", provider="p", input_usd_per_mtok=2, output_usd_per_mtok=4)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        m.id = "other"  # type: ignore[misc]
    assert m.cost_usd(1_000_000, 0) == 2.0 and m.cost_usd(0, 500_000) == 2.0
