"""Loaders for the four kinds, and validation problems located by file and line."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

from kbassist.schema import Kind, Stage
from kbassist.sources import load_knowledge_base
from kbassist.sources.faq import derived_id
from kbassist.sources.policies import chinese_number


def messages(kb_dir: Path) -> list[str]:
    return [f"{Path(p.file).name}:{p.line}: {p.field}: {p.message}" for p in load_knowledge_base(kb_dir).problems]


class TestLoaders:
    def test_every_kind_loads(self, tiny_kb_dir: Path) -> None:
        kb = load_knowledge_base(tiny_kb_dir)
        assert kb.problems == []
        ids = {e.id for e in kb.entries}
        assert {
            "faq-refund-001",
            "faq-install-001",
            "pol-return-v3-c1",
            "pol-return-v3-c2",
            "pol-return-v3-c3",
            "pol-return-v2-c1",
            "pl-inverter-ac",
            "prd-kfr-35gw-bp3dn8y-ph200-b1",
            "scr-refund-01",
        } <= ids
        assert {k: len(kb.by_kind(k)) for k in Kind} == {
            Kind.FAQ: 4,
            Kind.POLICY: 4,
            Kind.PRODUCT: 3,
            Kind.SCRIPT: 3,
        }

    def test_faq_csv_with_bom_and_excel_dates(self, tiny_kb_dir: Path) -> None:
        entry = next(e for e in load_knowledge_base(tiny_kb_dir).entries if e.id == "faq-kettle-001")
        assert entry.title == "新水壶第一次怎么用？"
        assert entry.keys == ("新水壶第一次怎么用？", "新买的烧水壶能直接喝吗", "水壶头一回用要注意啥")
        assert entry.similar_questions == entry.keys[1:]
        assert entry.effective_from == date(2025, 1, 1)
        assert entry.product_line == "电热水壶"
        assert entry.source.line == 3

    def test_faq_csv_with_english_header_and_no_id_column(self, tmp_path: Path) -> None:
        (tmp_path / "faq").mkdir()
        (tmp_path / "faq" / "en.csv").write_text(
            'question,similar_questions,answer,tags\n发票怎么开,"开票咋弄|要发票",在订单详情申请。,发票|开票\n',
            encoding="utf-8",
        )
        kb = load_knowledge_base(tmp_path)
        assert kb.problems == []
        (entry,) = kb.entries
        assert entry.id == derived_id("发票怎么开")
        assert entry.keys == ("发票怎么开", "开票咋弄", "要发票")
        assert entry.tags == ("发票", "开票")

    def test_faq_jsonl(self, tiny_kb_dir: Path) -> None:
        entry = next(e for e in load_knowledge_base(tiny_kb_dir).entries if e.id == "faq-install-001")
        assert entry.channel == ("电话",)
        assert entry.keys[1:] == ("装空调花钱不", "空调按装免费吗")

    def test_policy_clauses_with_chinese_numerals_and_subheadings(self, tiny_kb_dir: Path) -> None:
        entries = {e.id: e for e in load_knowledge_base(tiny_kb_dir).entries}
        clause = entries["pol-return-v3-c2"]
        assert clause.kind is Kind.POLICY
        assert clause.title == "退换货服务规则 第2条 七日无理由退货"
        assert "已安装使用的空调不适用" in clause.text  # a deeper heading stays inside its clause
        assert clause.source.clause == 2
        assert clause.source.version == "3.0"
        assert clause.source.chapter == "第一章 总则"
        assert clause.source.citation == "《退换货服务规则》第2条（3.0版）"
        assert clause.source.line == 11
        assert entries["pol-return-v2-c1"].effective_to == date(2025, 2, 28)

    def test_products_become_model_and_overview_entries(self, tiny_kb_dir: Path) -> None:
        entries = {e.id: e for e in load_knowledge_base(tiny_kb_dir).entries}
        model = entries["prd-kfr-35gw-bp3dn8y-ph200-b1"]
        assert model.model == "KFR-35GW/BP3DN8Y-PH200(B1)"
        assert "制冷量：3500W" in model.text
        assert "保修：整机保修6年，压缩机保修10年" in model.text
        assert model.specs == {"制冷量": "3500W", "能效等级": "一级"}
        overview = entries["pl-inverter-ac"]
        assert "关机后不要立即拔掉电源" in overview.text
        assert "KFR-26GW/BP3DN8Y-PH200(B1)" in overview.text

    def test_scripts_inherit_file_defaults(self, tiny_kb_dir: Path) -> None:
        entries = {e.id: e for e in load_knowledge_base(tiny_kb_dir).entries}
        script = entries["scr-refund-02"]
        assert script.scenario == "退款延迟"
        assert script.stage is Stage.SOLUTION
        assert script.links == ("faq-refund-001", "pol-return-v3-c3")
        assert script.tags == ("退款",)

    def test_chinese_numbers(self) -> None:
        assert [chinese_number(t) for t in ("一", "十", "十二", "二十", "二十三", "一百零五", "7")] == [
            1,
            10,
            12,
            20,
            23,
            105,
            7,
        ]


class TestValidation:
    def test_all_problems_at_once_with_file_and_line(self, tiny_kb_dir: Path) -> None:
        faq = tiny_kb_dir / "faq" / "basics.csv"
        faq.write_text(
            faq.read_text(encoding="utf-8")
            + "faq-refund-001,重复的编号,相似|问法,答案,分类,,,,2025-01-01,\n"
            + "faq-bad-date,坏日期,相似|问法,答案,,,,,2025-13-01,\n"
            + "faq-empty,空答案,相似|问法,,,,,,,\n"
            + "faq-channel,错渠道,相似|问法,答案,,,,短信,,\n"
            + "faq-window,窗口反了,相似|问法,答案,,,,,2025-05-01,2025-01-01\n",
            encoding="utf-8",
        )
        (tiny_kb_dir / "scripts" / "bad.yaml").write_text(
            textwrap.dedent(
                """\
                scenario: 测试
                scripts:
                  - id: scr-bad-01
                    stage: 开场
                    text: 您好
                    links: [faq-missing-999]
                  - id: scr-bad-02
                    stage: 寒暄
                    text: ""
                  - id: scr-bad-03
                    stage: 方案
                    text: 好的
                    intents: [投诉, 查询]
                """
            ),
            encoding="utf-8",
        )
        found = messages(tiny_kb_dir)
        assert "basics.csv:5: id: 编号 faq-refund-001 重复（已在 " in found[0] or any(
            m.startswith("basics.csv:5: id: 编号 faq-refund-001 重复") for m in found
        )
        assert any(m.startswith("basics.csv:6: 生效日期: 日期 '2025-13-01' 无法识别") for m in found)
        assert "basics.csv:7: 答案: 内容为空" in found
        assert any(m.startswith("basics.csv:8: 渠道: 渠道 '短信' 无效") for m in found)
        assert any(m.startswith("basics.csv:9: record: 失效日期 2025-01-01 早于生效日期 2025-05-01") for m in found)
        assert "bad.yaml:3: links: 关联的编号 faq-missing-999 不存在" in found
        assert any(m.startswith("bad.yaml:8: stage: 未知话术阶段 '寒暄'") for m in found)
        assert "bad.yaml:9: text: 内容为空" in found
        assert "bad.yaml:13: intents: 意图 查询 无效，可选：咨询 / 投诉 / 建议 / 催办 / 退换货 / 维修" in found

    def test_missing_required_fields(self, tmp_path: Path) -> None:
        (tmp_path / "faq").mkdir()
        (tmp_path / "faq" / "a.jsonl").write_text(
            '{"id": "faq-a", "question": "有问题", "answer": "有答案"}\n'
            '{"id": "faq-b", "question": "没答案"}\n'
            "{not json}\n"
            '{"id": "Bad Id", "question": "q", "answer": "a"}\n',
            encoding="utf-8",
        )
        (tmp_path / "faq" / "b.csv").write_text("编号,答案\nfaq-c,只有答案\n", encoding="utf-8")
        found = messages(tmp_path)
        assert "a.jsonl:2: answer: 缺少必填字段" in found
        assert any(m.startswith("a.jsonl:3: json: JSON 格式错误") for m in found)
        assert any(m.startswith("a.jsonl:4: id: 编号 'Bad Id' 只能用小写字母") for m in found)
        assert "b.csv:1: header: 缺少列：标准问（或 question）" in found

    def test_policy_problems(self, tmp_path: Path) -> None:
        (tmp_path / "policies").mkdir()
        (tmp_path / "policies" / "no-front.md").write_text("## 第1条 标题\n正文\n", encoding="utf-8")
        (tmp_path / "policies" / "bad.md").write_text(
            "---\nid: pol-x\ntitle: 规则\nversion: '1'\neffective_from: 2025-02-30\n---\n"
            "## 第1条 一\n正文\n## 第1条 重复\n正文\n## 第2条 空\n",
            encoding="utf-8",
        )
        (tmp_path / "policies" / "no-title.md").write_text(
            "---\nid: pol-y\nversion: '1'\n---\n## 第1条 一\n正文\n", encoding="utf-8"
        )
        found = messages(tmp_path)
        assert any(m.startswith("no-front.md:1: front_matter: 缺少 YAML 头") for m in found)
        assert any(m.startswith("bad.md:5: effective_from: 日期 '2025-02-30' 无法识别") for m in found)
        assert "no-title.md:2: title: 缺少必填字段" in found

    def test_policy_clause_problems(self, tmp_path: Path) -> None:
        (tmp_path / "policies").mkdir()
        (tmp_path / "policies" / "c.md").write_text(
            "---\nid: pol-x\ntitle: 规则\nversion: '1'\n---\n## 第1条 一\n正文\n## 第1条 重复\n正文\n## 第2条 空\n",
            encoding="utf-8",
        )
        found = messages(tmp_path)
        assert any(m.startswith("c.md:8: 第1条: 条款编号重复") for m in found)
        assert "c.md:10: 第2条: 条款正文为空" in found

    def test_yaml_syntax_error_and_product_fields(self, tmp_path: Path) -> None:
        (tmp_path / "products").mkdir()
        (tmp_path / "products" / "broken.yaml").write_text("id: pl-x\nmodels: [\n", encoding="utf-8")
        (tmp_path / "products" / "p.yaml").write_text(
            "id: pl-y\nproduct_line: 冰箱\nmodels:\n  - id: prd-a\n    name: 冰箱A\n", encoding="utf-8"
        )
        found = messages(tmp_path)
        assert any(m.startswith("broken.yaml:3: yaml: YAML 语法错误") for m in found)
        assert "p.yaml:4: models.0.model: 缺少必填字段" in found

    def test_empty_folder_is_a_problem(self, tmp_path: Path) -> None:
        assert [p.field for p in load_knowledge_base(tmp_path).problems] == ["data"]

    def test_project_data_is_valid(self) -> None:
        from tests.conftest import DATA

        kb = load_knowledge_base(DATA)
        assert kb.problems == [], "\n".join(map(str, kb.problems))
