"""The role model: loading, validation with file:line, `kb validate`, free-text role mapping."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_plans_fixtures import KB, write

from bot.kb.validation import validate_kb
from bot.plans.matching import match_role
from bot.plans.roles import load_default_roles, load_roles, module_titles
from tests.unit.kb_fixtures import alias_bomb, deep_yaml, run_capped


@pytest.fixture(scope="module")
def model():
    loaded, problems = load_default_roles(KB)
    assert problems == [], [str(p) for p in problems]
    return loaded


def test_shipped_role_model_is_complete(model) -> None:
    assert set(model.roles) == {"section-officer", "assistant-section-officer", "public-information-officer",
                                "drawing-and-disbursing-officer", "under-secretary", "new-recruit",
                                "new-recruit-csss"}
    pio = model.get("public-information-officer")
    assert pio.name_hi == "लोक सूचना अधिकारी" and "CPIO" in pio.aliases and pio.activities
    assert {c.type for r in model.roles.values() for c in r.competencies} == {"behavioural", "functional", "domain"}
    assert model.get("new-recruit").onboarding.days == 10
    assert model.get("new-recruit-csss").search_tags == ("new-recruit-csss", "new-recruit")
    assert model.prerequisites["ltc-basics"] == ("leave-basics",)


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "roles" / "bad.yml", """
        id: Bad Role
        name: Bad
        competencies:
          - name: Stuff
            type: technical
            modules: [no-such-module]
          - name: Other
            type: domain
            priority: 5
            modules: [leave-basics]
          - name: Third
            type: domain
            quizzes: [no-bank]
        """)
    write(tmp_path / "roles" / "prerequisites.yml", """
        prerequisites:
          leave-basics: [ltc-basics]
          ltc-basics: [leave-basics]
        """)
    model, problems = load_roles(tmp_path / "roles", modules={"leave-basics", "ltc-basics"},
                                 quiz_modules={"leave-basics"})
    found = {(p.source, p.line, p.message.split(",")[0]) for p in problems}
    assert ("roles/bad.yml", 1, "id must be a lower-case name without spaces") in found
    assert ("roles/bad.yml", 5, "type must be one of behavioural") in found
    assert ("roles/bad.yml", 6, "module 'no-such-module' is not a module in knowledge_base/modules") in found
    assert ("roles/bad.yml", 9, "priority must be 1") in found
    assert any(p.line == 13 and "quiz bank 'no-bank' does not exist" in p.message for p in problems)
    assert any("prerequisite cycle" in p.message for p in problems)
    assert "bad" not in model.roles  # a role with errors is left out


def test_broken_yaml_and_duplicate_aliases(tmp_path: Path) -> None:
    write(tmp_path / "roles" / "a.yml", """
        id: a
        name: Alpha
        aliases: [AL]
        competencies: [{name: X, type: domain, modules: [m]}]
        """)
    write(tmp_path / "roles" / "b.yml", """
        id: b
        name: Beta
        aliases: [AL]
        competencies: [{name: X, type: domain, modules: [m]}]
        """)
    write(tmp_path / "roles" / "c.yml", "id: c\nname: [unclosed\n")
    model, problems = load_roles(tmp_path / "roles", modules={"m"})
    assert set(model.roles) == {"a", "b"}
    messages = [str(p) for p in problems]
    assert any(m.startswith("WARNING: roles/b.yml:3: alias 'AL' also names role 'a'") for m in messages)
    assert any(m.startswith("ERROR: roles/c.yml:") and "not valid YAML" in m for m in messages)


def test_kb_validate_reports_role_problems(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(KB, kb)
    assert [p for p in validate_kb(kb) if p.severity == "error"] == []
    text = (kb / "roles" / "section-officer.yml").read_text().replace("modules: [leave-basics]",
                                                                      "modules: [leave-rules]")
    (kb / "roles" / "section-officer.yml").write_text(text)
    problems = [str(p) for p in validate_kb(kb)]
    assert any(p.startswith("ERROR: roles/section-officer.yml:") and "'leave-rules'" in p for p in problems)


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("I am now a PIO", "public-information-officer"),
        ("CPIO", "public-information-officer"),
        ("SO", "section-officer"),
        ("S.O.", "section-officer"),
        ("ASO", "assistant-section-officer"),
        ("DDO", "drawing-and-disbursing-officer"),
        ("US", "under-secretary"),
        ("section officer in MoHFW", "section-officer"),
        ("section oficer", "section-officer"),  # a typo, still clear
        ("drawing disbursing", "drawing-and-disbursing-officer"),
        ("अनुभाग अधिकारी", "section-officer"),
        ("मैं अब लोक सूचना अधिकारी हूँ", "public-information-officer"),
        ("नया कर्मचारी", "new-recruit"),
        ("main ab DDO hoon", "drawing-and-disbursing-officer"),
        ("naya karmachari hoon", "new-recruit"),
        ("stenographer", "new-recruit-csss"),
        ("under-secretary", "under-secretary"),  # a role id, as buttons send it
    ],
)
def test_free_text_maps_to_the_role(model, text: str, role: str) -> None:
    match = match_role(text, model)
    assert match.role is not None and match.role.id == role and match.sure


def test_unclear_names_ask_for_confirmation(model) -> None:
    match = match_role("secton officr", model)
    assert not match.sure and match.candidates[0].id == "section-officer"
    assert "assistant-section-officer" in [r.id for r in match.candidates]


def test_unknown_jobs_and_pronouns_match_nothing_sure(model) -> None:
    assert match_role("I work in accounts", model).role is None
    assert match_role("clerk", model).role is None
    assert not match_role("tell us about RTI", model).sure  # "us" is not the Under Secretary


def test_hostile_role_module_and_bank_files_are_refused_and_the_other_roles_still_load(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(KB, kb)
    outside = write(tmp_path / "outside" / "role.yml", """
        id: outside
        name: Outside
        competencies: [{name: X, type: domain, modules: [leave-basics]}]
        """)
    (kb / "roles" / "link.yml").symlink_to(outside)
    write(kb / "roles" / "bomb.yml", alias_bomb("x") + "id: bomb\nname: *l9\naliases: *l9\ncompetencies: *l9\n")
    write(kb / "roles" / "deep.yml", "id: deep\n" + deep_yaml("competencies"))
    write(kb / "roles" / "big.yml", "id: big\nname: Big\nlevel: " + "1" * 5000 + "\n")
    write(kb / "modules" / "bomb.md", "---\n" + alias_bomb("title") + "module: bomb-module\n---\n# Bomb\n\nText.\n")
    outside_module = write(tmp_path / "outside" / "secret.md", "---\nmodule: outside-module\n---\n# Secret\n")
    (kb / "modules" / "link.md").symlink_to(outside_module)
    write(kb / "quizzes" / "bomb.quiz.yml", alias_bomb("x") + "module: *l9\nitems: []\n")
    # capped: a regression that expands a bomb fails this test instead of exhausting the machine
    model, problems = run_capped(load_default_roles, kb, memory_mb=1024, timeout=60)
    assert set(model.roles) == {"section-officer", "assistant-section-officer", "public-information-officer",
                                "drawing-and-disbursing-officer", "under-secretary", "new-recruit",
                                "new-recruit-csss"}
    errors = {p.source: p.message for p in problems if p.severity == "error"}
    expected = {"link": "link", "bomb": "alias", "deep": "nested", "big": "cannot be read"}
    assert set(errors) == {f"roles/{name}.yml" for name in expected}, errors
    for name, word in expected.items():
        assert word in errors[f"roles/{name}.yml"], (name, errors[f"roles/{name}.yml"])
    titles = run_capped(module_titles, kb, memory_mb=1024, timeout=60)
    assert "outside-module" not in titles and max(len(t) for t in titles.values()) < 300
    assert "leave-basics" in titles
