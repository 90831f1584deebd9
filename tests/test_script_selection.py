"""话术 selection: linked scripts first, scenario scripts by intent and emotion, the situation's stage plan,
placeholders, and the call-back scripts when there is no good answer."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from kbassist.assistdata import AssistDataError
from kbassist.schema import Entry, Kind, Source, Stage
from kbassist.scripts import (
    DEFAULT_PLAN,
    choose_plan,
    fill_placeholders,
    load_stage_plans,
    order_by_stage,
    scenario_scripts,
)
from kbassist.search import Searcher
from kbassist.settings import Settings
from tests.assist_kb import add_assist, open_assisted
from tests.conftest import DATA, FakeEmbedder

DAY = date(2026, 6, 1)


@pytest.fixture
def assisted(tiny_kb_dir: Path, settings: Settings) -> Searcher:
    add_assist(tiny_kb_dir)
    return open_assisted(tiny_kb_dir, settings, FakeEmbedder())


def stages(result_scripts: tuple) -> list[str]:
    return [s.stage.value for s in result_scripts]


class TestSituation:
    def test_angry_complaint_calms_first_and_ends_with_a_follow_up(self, assisted: Searcher) -> None:
        result = assisted.search("你们什么垃圾服务，我要投诉！", as_of=DAY)
        assert result.intent is not None
        assert (result.intent.intent.label, result.intent.emotion.label) == ("投诉", "愤怒")
        order = stages(result.scripts)
        assert order[0] == "安抚" and order[-1] == "跟进"
        assert order.index("安抚") < order.index("方案") < order.index("跟进")
        assert "开场" not in order and "结束" not in order
        assert order == sorted(order, key=["安抚", "说明", "方案", "跟进"].index)
        ids = [s.entry.id for s in result.scripts]
        assert "scr-complaint-calm" in ids and "scr-complaint-calm-plain" not in ids  # tone fits the emotion
        assert all(order.count(stage) <= assisted.settings.scripts_per_stage for stage in set(order))

    def test_calm_complaint_gets_the_calm_wording(self, assisted: Searcher) -> None:
        result = assisted.search("你好，我想投诉一下你们的快递员", as_of=DAY)
        assert result.intent is not None
        assert (result.intent.intent.label, result.intent.emotion.label) == ("投诉", "平静")
        ids = [s.entry.id for s in result.scripts]
        assert "scr-complaint-calm-plain" in ids and "scr-complaint-calm" not in ids
        assert stages(result.scripts)[0] == "安抚" and stages(result.scripts)[-1] == "跟进"

    def test_linked_scripts_come_first_within_a_stage(self, assisted: Searcher) -> None:
        result = assisted.search("退款的事客服推来推去，气死了，我要投诉！", as_of=DAY)
        assert result.hits[0].entry.id == "faq-refund-001"
        assert result.intent is not None and result.intent.intent.label == "投诉"
        calming = [(s.entry.id, s.reason) for s in result.scripts if s.stage is Stage.EMPATHY]
        assert calming == [("scr-refund-01", "linked:faq-refund-001"), ("scr-complaint-calm", "scenario:投诉处理")]

    def test_per_stage_limit_keeps_the_linked_one(self, tiny_kb_dir: Path, tmp_path: Path) -> None:
        add_assist(tiny_kb_dir)
        one = Settings(data_dir=tiny_kb_dir, index_dir=tmp_path / "one", scripts_per_stage=1)
        searcher = open_assisted(tiny_kb_dir, one, FakeEmbedder())
        result = searcher.search("退款的事客服推来推去，气死了，我要投诉！", as_of=DAY)
        assert [s.entry.id for s in result.scripts if s.stage is Stage.EMPATHY] == ["scr-refund-01"]
        assert all(stages(result.scripts).count(stage) == 1 for stage in set(stages(result.scripts)))

    def test_placeholders_filled_when_known_and_left_visible_when_not(self, assisted: Searcher) -> None:
        result = assisted.search("退钱几天能到", as_of=DAY, values={"客户称呼": "王女士"})
        texts = {s.entry.id: s.text for s in result.scripts}
        assert texts["scr-refund-01"] == "王女士，让您久等了，我理解您着急的心情。"
        assert texts["scr-refund-02"] == "我这边马上为您查询订单{订单号}的退款进度。"
        unfilled = assisted.search("退钱几天能到", as_of=DAY)
        assert {s.entry.id: s.text for s in unfilled.scripts}["scr-refund-01"].startswith("{客户称呼}，")

    def test_without_assist_data_only_linked_scripts_in_the_usual_order(self, tiny_searcher: Searcher) -> None:
        result = tiny_searcher.search("退钱几天能到", as_of=DAY)
        assert [(s.entry.id, s.stage.value) for s in result.scripts] == [
            ("scr-refund-01", "安抚"),
            ("scr-refund-02", "方案"),
            ("scr-refund-03", "跟进"),
        ]
        assert all(s.reason.startswith("linked:") for s in result.scripts)


class TestNoGoodAnswer:
    def test_call_back_scripts_replace_the_linked_ones(self, assisted: Searcher) -> None:
        result = assisted.search("退款的事客服推来推去，气死了，我要投诉！", as_of=DAY)
        scripts = assisted.select_scripts(result.hits, DAY, {"客户称呼": "王女士"}, result.intent, no_good_answer=True)
        ids = [s.entry.id for s in scripts]
        assert ids[0] == "scr-callback-calm"  # an angry customer is still calmed first
        assert {"scr-callback-explain", "scr-callback-follow", "scr-callback-transfer"} <= set(ids)
        assert not any(s.reason.startswith("linked:") for s in scripts)
        assert stages(scripts) == sorted(stages(scripts), key=["安抚", "说明", "跟进", "转接"].index)
        assert "方案" not in stages(scripts)

    def test_call_back_scripts_are_not_offered_when_there_is_an_answer(self, assisted: Searcher) -> None:
        result = assisted.search("退款的事客服推来推去，气死了，我要投诉！", as_of=DAY)
        assert not any(s.entry.id.startswith("scr-callback") for s in result.scripts)


def entry(entry_id: str, stage: Stage, intents: tuple[str, ...] = (), emotions: tuple[str, ...] = (), **kw) -> Entry:
    return Entry(
        id=entry_id,
        kind=Kind.SCRIPT,
        title=entry_id,
        text=f"{entry_id} {{客户称呼}}",
        source=Source(file="s.yaml", line=1),
        scenario="s",
        stage=stage,
        intents=intents,
        emotions=emotions,
        **kw,
    )


class TestUnits:
    def test_scenario_scripts_most_specific_first(self) -> None:
        both = entry("both", Stage.EMPATHY, ("投诉",), ("愤怒",))
        intent_only = entry("intent", Stage.EMPATHY, ("投诉",))
        emotion_only = entry("emotion", Stage.EMPATHY, (), ("愤怒",))
        other = entry("other", Stage.EMPATHY, ("咨询",))
        untagged = entry("untagged", Stage.EMPATHY)
        fallback = entry("fallback", Stage.FOLLOW_UP, tags=("无答案",))
        picked = scenario_scripts([untagged, other, emotion_only, intent_only, both, fallback], "投诉", "愤怒")
        assert [s.id for s, _ in picked] == ["both", "intent", "emotion"]
        with_fallback = scenario_scripts([emotion_only, fallback], "投诉", "愤怒", no_good_answer=True)
        assert [s.id for s, _ in with_fallback] == ["fallback", "emotion"]

    def test_order_by_stage_follows_the_plan_and_the_limit(self) -> None:
        candidates = [
            (entry("follow", Stage.FOLLOW_UP), "linked:x"),
            (entry("calm-1", Stage.EMPATHY), "linked:x"),
            (entry("calm-2", Stage.EMPATHY), "scenario:s"),
            (entry("calm-3", Stage.EMPATHY), "scenario:s"),
            (entry("open", Stage.OPENING), "scenario:s"),
        ]
        plan = (Stage.EMPATHY, Stage.FOLLOW_UP)
        ordered = order_by_stage(candidates, 2, {"客户称呼": "李先生"}, stages=plan)
        assert [s.entry.id for s in ordered] == ["calm-1", "calm-2", "follow"]
        assert ordered[0].text == "calm-1 李先生"
        assert [s.entry.id for s in order_by_stage(candidates, 1)] == ["open", "calm-1", "follow"]

    def test_fill_placeholders(self) -> None:
        assert fill_placeholders("{客户称呼}，订单{订单号}", {"客户称呼": "王女士"}) == "王女士，订单{订单号}"

    def test_the_project_stage_plans(self) -> None:
        plans = load_stage_plans(DATA / "assist" / "stage_plans.yaml")
        angry = choose_plan(plans, "投诉", "愤怒", False)
        assert angry.stages[0] is Stage.EMPATHY and angry.stages[-1] is Stage.FOLLOW_UP
        assert choose_plan(plans, "投诉", "愤怒", True).name.startswith("无可靠答案")
        assert choose_plan(plans, "咨询", "平静", False) is DEFAULT_PLAN
        assert "投诉处理" in angry.scenarios and "客户情绪激动" in angry.scenarios
        assert choose_plan(plans, "投诉", "平静", False).scenarios == ("投诉处理",)

    def test_plan_scenarios_must_be_a_list_of_names(self, tmp_path: Path) -> None:
        path = tmp_path / "plans.yaml"
        path.write_text(
            "plans:\n  - name: 投诉\n    when: {intents: [投诉]}\n    stages: [安抚]\n    scenarios: 投诉处理\n",
            encoding="utf-8",
        )
        with pytest.raises(AssistDataError) as caught:
            load_stage_plans(path)
        assert [str(p) for p in caught.value.problems] == [
            f"{path}:5: plans[0].scenarios: 应为场景名称列表，如 [投诉处理]"
        ]

    def test_stage_plan_errors_name_file_and_line(self, tmp_path: Path) -> None:
        path = tmp_path / "plans.yaml"
        path.write_text(
            textwrap.dedent(
                """\
                plans:
                  - name: 愤怒
                    when: {emotions: [暴躁]}
                    stages: [安抚, 解决]
                  - name: ''
                    when: {weather: 晴}
                    stages: [安抚, 安抚]
                """
            ),
            encoding="utf-8",
        )
        with pytest.raises(AssistDataError) as caught:
            load_stage_plans(path)
        lines = [str(p) for p in caught.value.problems]
        assert any(line.startswith(f"{path}:3: plans[0].when.emotions: '暴躁' 无效") for line in lines)
        assert any(line.startswith(f"{path}:4: plans[0].stages: 未知话术阶段 '解决'") for line in lines)
        assert f"{path}:5: plans[1].name: 缺少情境名称" in lines
        assert any(line.startswith(f"{path}:6: plans[1].when.weather: 未知条件") for line in lines)
        assert f"{path}:7: plans[1].stages: 阶段 安抚 重复" in lines
