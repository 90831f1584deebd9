"""Compliance lint: hits with positions, rules and alternatives; the allow-list; personal data; the rules
file's checks; the CLI; and the reindex report's script check."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kbassist.assistdata import AssistDataError
from kbassist.cli import app
from kbassist.lint import Linter, get_linter, lint_scripts, load_rules
from kbassist.reindex import REPORT_CHECKS, BuildContext, script_wording
from kbassist.schema import Entry, Kind, Source, Stage
from kbassist.settings import Settings
from tests.conftest import DATA

RULES = DATA / "assist" / "lint_rules.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def linter() -> Linter:
    return Linter.load(RULES)


def hits(linter: Linter, text: str) -> list[tuple[int, int, str, str]]:
    return [(h.start, h.end, h.text, h.rule) for h in linter.lint(text).hits]


class TestHits:
    def test_positions_rules_and_alternatives(self, linter: Linter) -> None:
        text = "这个不能退，我们是第一品牌，100%满意"
        report = linter.lint(text)
        assert not report.ok
        assert [(h.start, h.end, h.text, h.rule) for h in report.hits] == [
            (2, 4, "不能", "negative-wording"),
            (9, 11, "第一", "absolute-claim"),
            (14, 18, "100%", "absolute-claim"),
        ]
        for hit in report.hits:
            assert text[hit.start : hit.end] == hit.text
            assert hit.alternatives and hit.message and hit.rule_label
        negative = report.hits[0]
        assert negative.alternatives[0] == "目前可以为您……"
        assert negative.severity == "提醒" and report.hits[1].severity == "违规"
        assert report.hits[1].rule_label == "绝对化用语（广告法）"

    def test_every_negative_word_of_the_brief(self, linter: Linter) -> None:
        for word in ("不行", "不能", "没办法", "不知道", "不可以", "做不到"):
            assert hits(linter, f"这个{word}。") == [(2, 2 + len(word), word, "negative-wording")], word

    def test_every_absolute_claim_of_the_brief(self, linter: Linter) -> None:
        for word in ("最好", "第一", "唯一", "国家级", "100%", "百分百", "绝对"):
            found = hits(linter, f"我们{word}。")
            assert [f[3] for f in found] == ["absolute-claim"], word
            assert found[0][0] == 2, word

    def test_the_longer_banned_word_wins(self, linter: Linter) -> None:
        assert hits(linter, "全网最低价") == [(2, 5, "最低价", "absolute-claim")]

    def test_full_width_text_is_checked_with_original_offsets(self, linter: Linter) -> None:
        assert hits(linter, "保证１００％满意") == [(2, 6, "１００％", "absolute-claim")]

    def test_clean_text(self, linter: Linter) -> None:
        report = linter.lint("您好，目前可以为您办理换货，预计3个工作日内完成。")
        assert report.ok and report.hits == []


class TestAllowList:
    @pytest.mark.parametrize(
        "text",
        [
            "最近的网点在哪里",
            "最后一步请签收",
            "最终以验货结果为准",
            "最低消费是多少",
            "第一次使用请先烧一壶水",
            "请看第一条规定",
            "详见第一章",
            "我们会第一时间为您处理",
            "能不能麻烦您提供订单号？",
            "可不可以晚一点送",
            "不知道您现在方便吗",
            "如有不清楚的地方请随时联系",
        ],
    )
    def test_not_flagged(self, linter: Linter, text: str) -> None:
        assert linter.lint(text).ok, linter.lint(text).hits

    def test_allowed_and_banned_in_one_sentence(self, linter: Linter) -> None:
        text = "最近第一次买，这是最好的，能不能退？不能。"
        assert [(h.start, h.text) for h in linter.lint(text).hits] == [(9, "最"), (18, "不能")]


class TestPersonalData:
    def test_phone_id_card_email_with_masked_alternative(self, linter: Linter) -> None:
        text = "已记录您的手机13812345678，身份证110101199003071234，邮箱 wang@example.com"
        report = linter.lint(text)
        found = [(h.text, h.rule, h.rule_label, h.alternatives[0]) for h in report.hits]
        assert found == [
            ("13812345678", "personal-data", "个人信息（手机号）", "138****5678"),
            ("110101199003071234", "personal-data", "个人信息（身份证号）", "110101********1234"),
            ("wang@example.com", "personal-data", "个人信息（邮箱）", "w***@example.com"),
        ]
        for hit in report.hits:
            assert text[hit.start : hit.end] == hit.text and hit.severity == "违规"

    def test_an_order_number_is_not_a_phone(self, linter: Linter) -> None:
        assert linter.lint("订单号 2025112201").ok


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


class TestRulesFile:
    def test_every_problem_with_file_and_line(self, tmp_path: Path) -> None:
        path = write_rules(
            tmp_path,
            """\
            rules:
              - id: Bad Id
                label: 否定
                severity: 严重
                terms:
                  - term: 第一
                    allow: [最近]
                  - term: 不能
                    colour: red
              - id: dup
                label: 一
                terms: [不行]
              - id: dup
                label: 二
                terms: [没法]
              - id: nothing
                label: 空
                type: regex
            """,
        )
        with pytest.raises(AssistDataError) as caught:
            load_rules(path)
        lines = [str(p) for p in caught.value.problems]
        assert any(line.startswith(f"{path}:2: rules[0].id: 规则编号 'Bad Id' 无效") for line in lines)
        assert any(line.startswith(f"{path}:4: rules[0].severity: 级别 '严重' 无效") for line in lines)
        assert f"{path}:7: rules[0].terms.allow: 放行词 '最近' 不包含 '第一'，不会起作用" in lines
        assert any(line.startswith(f"{path}:9: rules[0].terms.colour: 未知字段") for line in lines)
        assert any(line.startswith(f"{path}:13: rules[2].id: 规则编号 'dup' 与第 10 行重复") for line in lines)
        assert any(line.startswith(f"{path}:18: rules[3].type: 类型 'regex' 无效") for line in lines)

    def test_an_alternative_must_pass_the_lint_itself(self, tmp_path: Path) -> None:
        path = write_rules(
            tmp_path,
            """\
            rules:
              - id: negative
                label: 否定
                terms:
                  - term: 不行
                    alternatives: [这个不能办]
                  - 不能
            """,
        )
        with pytest.raises(
            AssistDataError, match=r"rules.yaml:5: negative.alternatives: 替代说法 '这个不能办' 本身含有 '不能'"
        ):
            load_rules(path)

    def test_duplicate_words_and_yaml_errors(self, tmp_path: Path) -> None:
        path = write_rules(tmp_path, "rules:\n  - id: a\n    label: a\n    terms: [最, 最]\n")
        with pytest.raises(AssistDataError, match=r"rules.yaml:4: rules\[0\].terms: 词语 '最' 与第 4 行重复"):
            load_rules(path)
        broken = write_rules(tmp_path, "rules:\n  - id: a\n    terms: [最\n")
        with pytest.raises(AssistDataError, match=r"rules.yaml:\d+: yaml: YAML 语法错误"):
            load_rules(broken)
        with pytest.raises(AssistDataError, match="缺少规则列表"):
            load_rules(write_rules(tmp_path, "规则: []\n"))

    def test_the_linter_follows_edits_to_the_file(self, tmp_path: Path) -> None:
        path = write_rules(tmp_path, "rules:\n  - id: a\n    label: 甲\n    terms: [不行]\n")
        assert not get_linter(path).lint("不行").ok
        time.sleep(0.01)
        path.write_text("rules:\n  - id: a\n    label: 甲\n    terms: [没法]\n", encoding="utf-8")
        linter = get_linter(path)
        assert linter.lint("不行").ok and not linter.lint("没法").ok
        assert get_linter(path) is linter  # unchanged file: the same object, not read again


def script(entry_id: str, text: str, intents: tuple[str, ...] = ()) -> Entry:
    return Entry(
        id=entry_id,
        kind=Kind.SCRIPT,
        title="t",
        text=text,
        source=Source(file="data/scripts/x.yaml", line=7),
        scenario="s",
        stage=Stage.SOLUTION,
        intents=intents,
    )


class TestScripts:
    def test_lint_scripts_reports_only_scripts_with_hits(self, linter: Linter) -> None:
        findings = lint_scripts([script("scr-a", "这个不能退"), script("scr-b", "目前可以为您换货")], linter)
        assert [f.entry.id for f in findings] == ["scr-a"]
        assert findings[0].lines() == ["data/scripts/x.yaml:7: scr-a: [否定表达] 「不能」（第 3 字） → 目前可以为您……"]

    def test_the_project_scripts_pass(self, linter: Linter) -> None:
        from kbassist.sources import load_knowledge_base

        kb = load_knowledge_base(DATA)
        assert lint_scripts(kb.entries, linter) == []

    def test_reindex_report_checks_scripts(self) -> None:
        assert script_wording in REPORT_CHECKS
        entries = [script("scr-a", "我们是最好的", intents=("投诉",)), script("scr-b", "目前可以为您换货")]
        ctx = BuildContext(
            entries=entries,
            build_date=date(2026, 11, 22),
            vectors=np.zeros((0, 4), dtype=np.float32),
            row_entry=np.zeros(0, dtype=np.int64),
            previous={},
            settings=Settings(assist_dir=DATA / "assist"),
        )
        wording = script_wording(ctx)
        assert [(w.code, w.entries, w.where) for w in wording] == [
            ("script_wording", ("scr-a",), "data/scripts/x.yaml:7")
        ]
        assert "「最」" in wording[0].message and "绝对化用语" in wording[0].message


class TestCommand:
    def test_text_with_hits_exits_8_and_lists_them(self) -> None:
        result = runner.invoke(app, ["lint", "这个不能退，我们是最好的"])
        assert result.exit_code == 8
        assert "第 3–4 字「不能」" in result.output and "可改为：目前可以为您" in result.output

    def test_json(self) -> None:
        result = runner.invoke(app, ["lint", "--json", "第一次使用？最好的！"])
        data = json.loads(result.output)
        assert result.exit_code == 8
        assert [(h["start"], h["end"], h["text"], h["rule"]) for h in data["hits"]] == [(6, 7, "最", "absolute-claim")]

    def test_clean_text_exits_0(self) -> None:
        result = runner.invoke(app, ["lint", "目前可以为您办理换货"])
        assert result.exit_code == 0 and "未发现" in result.output

    def test_file_and_stdin(self, tmp_path: Path) -> None:
        draft = tmp_path / "draft.txt"
        draft.write_text("没办法，您自己看着办", encoding="utf-8")
        assert runner.invoke(app, ["lint", "--file", str(draft)]).exit_code == 8
        result = runner.invoke(app, ["lint", "--file", "-", "--json"], input="百分百满意")
        assert json.loads(result.output)["hits"][0]["text"] == "百分百"

    def test_bad_rules_file_exits_3_with_file_and_line(self, tmp_path: Path) -> None:
        path = write_rules(tmp_path, "rules:\n  - id: a\n    label: 甲\n    severity: 高\n    terms: [不行]\n")
        result = runner.invoke(app, ["lint", "--rules", str(path), "不行"])
        assert result.exit_code == 3
        assert f"{path}:4: rules[0].severity" in result.output.replace("\n", "")

    def test_scripts_of_the_knowledge_base(self, tmp_path: Path) -> None:
        result = runner.invoke(app, ["lint", "--scripts", "--source", str(DATA)])
        assert result.exit_code == 0 and "均无问题" in result.output
