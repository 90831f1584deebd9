#!/usr/bin/env python3
"""A synthetic but realistic knowledge base of any size, built from the real one in data/.

    .venv/bin/python benchmarks/generate_kb.py --size 100000 --out benchmarks/out/kb-100000

Writes ``<out>/data`` in the documented formats (docs/FORMATS.md), so ``kbassist validate`` and
``kbassist build --source <out>/data`` take it as they take data/, and ``<out>/questions.jsonl``: customer
questions with the entry each one was written from.

What is in it:

- every entry of data/ unchanged (so the labelled questions of data/eval keep their answers), plus
- generated FAQs (62% of the new entries): a real FAQ recombined with a product type or an order type
  (预售订单, 以旧换新订单 …), its figures (days, hours, amounts) redrawn from the values the real
  answers use, its 相似问 count and wording taken from the real FAQ; half CSV, half JSONL;
- product lines and models (15%): a real line's structure, a new series name, sometimes another product
  type, new model numbers in the style of the real ones (``KFR-35GW/BP3DN8Y-PH200(B1)`` →
  ``KFR-72GW/BP3DN4Y-PH215(B1)``), spec values drawn from the real models' values for the same key;
- policy documents (15% of entries are their clauses): a real policy for a region, channel or customer
  group, its clauses with redrawn figures and product words, sometimes a sentence from a sibling clause;
- 话术 scripts (8%): a real scenario's scripts for an order type, figures and product words redrawn.

Lengths therefore follow the real distribution. Generation is deterministic for a given seed, and each
kind is drawn from its own random stream in fixed-size files, so the knowledge base of 10,000 entries is a
prefix of the one of 100,000 (the embedding cache of one serves most of the other).

Questions: the labelled questions of data/eval (questions.jsonl, holdout.jsonl) plus generated ones: a
generated FAQ's question or 相似问 perturbed as customers type (filler words, the customer-side synonym
from data/dict/synonyms.txt, the order type left out, punctuation dropped, urgency added), a model number
mangled (lower case, no hyphens, only its core) with a spec question, a policy clause asked about.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from kbassist.schema import Entry, Kind
from kbassist.segment import read_synonyms
from kbassist.sources import load_knowledge_base

GENERATOR_VERSION = 1
REPO = Path(__file__).resolve().parent.parent

# Share of the generated entries per kind (the real data/ has 53% FAQ, 18% policy, 7% product, 22%
# script; a large retailer has relatively fewer scripts and more models and FAQ variants).
SHARES = {"faq": 0.62, "product": 0.15, "policy": 0.15, "script": 0.08}
FAQS_PER_FILE = 1000
CSV_HEADER = ["编号", "标准问", "相似问", "答案", "分类", "产品线", "标签", "渠道", "生效日期", "失效日期"]
MODELS_PER_LINE = (12, 40)
SCRIPT_FILES_MAX = 24

# Product words of the real data, longest first so 变频空调 is replaced before 空调.
REAL_PRODUCT_WORDS = [
    "智能马桶盖",
    "扫地机器人",
    "变频空调",
    "定频空调",
    "电热水壶",
    "洗衣机",
    "净水器",
    "电饭煲",
    "马桶盖",
    "扫地机",
    "热水壶",
    "电水壶",
    "空调",
    "冰箱",
    "水壶",
]
# What else a large home-appliance retailer sells.
OTHER_PRODUCTS = [
    "电视",
    "油烟机",
    "燃气灶",
    "燃气热水器",
    "电热水器",
    "微波炉",
    "烤箱",
    "洗碗机",
    "空气净化器",
    "加湿器",
    "除湿机",
    "吸尘器",
    "电风扇",
    "取暖器",
    "破壁机",
    "豆浆机",
    "电压力锅",
    "电磁炉",
    "咖啡机",
    "吹风机",
    "电动牙刷",
    "投影仪",
    "冷柜",
    "干衣机",
    "消毒柜",
    "集成灶",
    "新风机",
    "智能门锁",
    "洗地机",
    "蒸烤一体机",
]
# A product type replaces a product word; the short forms (水壶, 扫地机, 马桶盖) are not types of their own.
PRODUCT_TYPES = [w for w in REAL_PRODUCT_WORDS if w not in ("水壶", "扫地机", "马桶盖")] + OTHER_PRODUCTS
ORDER_TYPES = [
    "预售订单",
    "以旧换新订单",
    "企业采购订单",
    "门店自提订单",
    "海外购订单",
    "分期付款订单",
    "套装商品",
    "赠品",
    "定制商品",
    "清仓商品",
    "直播间订单",
    "拼团订单",
    "秒杀商品",
    "大家电",
    "小家电",
    "厨房电器",
    "政府补贴订单",
    "会员专享商品",
    "小程序订单",
    "礼品卡订单",
]
SCOPES = [
    "华东大区",
    "华南大区",
    "华北大区",
    "华中大区",
    "西南大区",
    "西北大区",
    "东北大区",
    "企业客户",
    "海外购",
    "会员专享",
    "线下门店",
    "小程序商城",
    "直播渠道",
    "以旧换新",
    "政府补贴",
    "校园专区",
    "厨房电器",
    "生活电器",
    "大家电",
    "延保服务",
]
SERIES_CHARS = "清风悦云境静享澄澈锦绣青禾星辰月光雅致智臻逸朗澜岚翠柏松竹梅兰玉瑞祥和安康宁泰凉夏暖冬晴川山海"
REAL_SERIES = ["清风", "悦风", "云境", "凉夏"]
# Values the real answers and clauses use, per unit: a figure is redrawn from its unit's list.
FIGURES = {
    "个工作日": [1, 2, 3, 5, 7, 10],
    "小时": [2, 4, 12, 24, 48, 72],
    "日": [3, 5, 7, 10, 15, 30],
    "天": [3, 5, 7, 10, 15, 30],
    "元": [10, 20, 30, 50, 80, 100, 150, 200, 300, 500],
    "年": [1, 2, 3, 5, 6, 10],
    "个月": [3, 6, 12, 24],
    "分钟": [5, 10, 15, 30],
    "%": [5, 10, 20, 30, 50],
}
# Not dates: a day after 月 (3月1日) and four-digit years (2025年) are left alone.
FIGURE = re.compile(r"(?<![0-9.月])([0-9]{1,3})(个工作日|小时|日|天|元|年|个月|分钟|%)(?![0-9]*月)")
PRODUCT_WORD = re.compile("|".join(map(re.escape, REAL_PRODUCT_WORDS)))
SENTENCE = re.compile(r"[^。！？]+[。！？]")
FILLER_BEFORE = ["", "", "请问", "你好，", "我想问下", "问一下", "麻烦问下", "客服你好，", "那个", "您好，请问"]
FILLER_AFTER = ["", "", "？", "啊", "呢", "呀", "？？", "，急", "，在线等", "，谢谢"]
URGENT = ["都等好几天了", "怎么回事啊", "能快点吗", "着急用"]


def digest(text: str) -> int:
    """A stable seed from a name (Python's hash() of a str changes between runs)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def redraw_figures(text: str, rng: random.Random, p: float = 0.4) -> str:
    def swap(match: re.Match[str]) -> str:
        if rng.random() >= p:
            return match.group(0)
        return f"{rng.choice(FIGURES[match.group(2)])}{match.group(2)}"

    return FIGURE.sub(swap, text)


def swap_products(text: str, target: str) -> str:
    return PRODUCT_WORD.sub(target, text)


def mentions_product(text: str) -> bool:
    return PRODUCT_WORD.search(text) is not None


def new_model_number(style: str, rng: random.Random, taken: set[str]) -> str:
    """Digits redrawn (no leading zero), some capitals changed, separators and shape kept."""
    for _ in range(1000):
        out: list[str] = []
        for position, char in enumerate(style):
            run_start = position == 0 or not style[position - 1].isdigit()
            if char.isdigit():
                out.append(rng.choice("123456789" if run_start else "0123456789"))
            elif "A" <= char <= "Z" and rng.random() < 0.25:
                out.append(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ"))
            else:
                out.append(char)
        candidate = "".join(out)
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    raise RuntimeError(f"no new model number in the style of {style}")


def model_id(model: str) -> str:
    return "prd-" + re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")


def series_name(number: int) -> str:
    """A distinct two-character series name for each number (then with a digit)."""
    chars = SERIES_CHARS
    first, second = divmod(number, len(chars))
    name = chars[first % len(chars)] + chars[(second * 7 + first) % len(chars)]
    return name if number < len(chars) ** 2 else f"{name}{number // len(chars) ** 2}"


def random_date(rng: random.Random, start: date, days: int) -> date:
    return start + timedelta(days=rng.randrange(days))


# --- the real knowledge base, as material --------------------------------------------------------


@dataclass
class Material:
    faqs: list[Entry]
    clauses: dict[str, list[Entry]]  # policy id -> clauses in order
    policy_meta: dict[str, dict[str, Any]]  # policy id -> front matter
    lines: list[dict[str, Any]]  # product-line YAML documents
    script_files: list[dict[str, Any]]
    synonyms: dict[str, list[str]]  # canonical -> customer words


def load_material(data: Path) -> Material:
    kb = load_knowledge_base(data)
    kb.raise_for_problems()
    clauses: dict[str, list[Entry]] = {}
    for entry in kb.by_kind(Kind.POLICY):
        clauses.setdefault(entry.source.policy_id or "", []).append(entry)
    policy_meta = {}
    for path in sorted((data / "policies").glob("*.md")):
        front = path.read_text(encoding="utf-8").split("---", 2)[1]
        meta = yaml.safe_load(front)
        policy_meta[meta["id"]] = meta
    lines = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((data / "products").glob("*.yaml"))]
    scripts = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((data / "scripts").glob("*.yaml"))]
    groups: dict[str, list[str]] = {}
    for word, canonical in read_synonyms(data / "dict" / "synonyms.txt").items():
        groups.setdefault(canonical, []).append(word)
    return Material(kb.by_kind(Kind.FAQ), clauses, policy_meta, lines, scripts, groups)


# --- generators: each an endless stream from its own seed -------------------------------------------


@dataclass
class Faq:
    id: str
    question: str
    similar: list[str]
    answer: str
    category: str | None
    product_line: str | None
    tags: list[str]
    channel: list[str]
    effective_from: date | None
    effective_to: date | None
    qualifier: str | None


def faq_stream(material: Material, seed: int) -> Iterator[Faq]:
    rng = random.Random(seed)
    number = 0
    while True:
        base = rng.choice(material.faqs)
        number += 1
        keys = list(base.keys)
        question, similar = keys[0], keys[1:]
        tags = list(base.tags)
        product_line = base.product_line
        qualifier: str | None = None
        if mentions_product(" ".join(keys)) and rng.random() < 0.8:
            target = rng.choice(PRODUCT_TYPES)
            question, similar = swap_products(question, target), [swap_products(s, target) for s in similar]
            answer = swap_products(base.text, target)
            product_line = target if product_line else None
            tags = [swap_products(t, target) for t in tags]
        else:
            qualifier = rng.choice(ORDER_TYPES)
            question = f"{qualifier}{question}"
            # Customers name the order type in some of their wordings, not all.
            similar = [f"{qualifier}{s}" if rng.random() < 0.5 else s for s in similar]
            answer = f"{qualifier}：{base.text}" if rng.random() < 0.5 else base.text
            tags = [*tags, qualifier]
        answer = redraw_figures(answer, rng)
        effective_from = base.effective_from
        effective_to = base.effective_to
        if rng.random() < 0.05:  # an expired variant, kept for questions about the past
            effective_from = random_date(rng, date(2023, 1, 1), 365)
            effective_to = random_date(rng, date(2024, 1, 1), 500)
        topic = base.id.split("-")[1]
        yield Faq(
            id=f"faq-gen-{topic}-{number:06d}",
            question=question,
            similar=list(dict.fromkeys(s for s in similar if s != question)),
            answer=answer,
            category=base.category,
            product_line=product_line,
            tags=list(dict.fromkeys(tags)),
            channel=list(base.channel),
            effective_from=effective_from,
            effective_to=effective_to,
            qualifier=qualifier,
        )


def _spec_values(lines: list[dict[str, Any]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in lines:
        for model in line["models"]:
            for key, value in (model.get("specs") or {}).items():
                values.setdefault(str(key), []).append(str(value))
    return values


def product_line_stream(material: Material, seed: int) -> Iterator[dict[str, Any]]:
    """Product-line documents; each holds 1 overview entry plus its models."""
    rng = random.Random(seed)
    spec_values = _spec_values(material.lines)
    taken = {m["model"] for line in material.lines for m in line["models"]}
    number = 0
    while True:
        base = rng.choice(material.lines)
        number += 1
        series = series_name(number)
        old_type = base["product_line"]
        new_type = rng.choice(OTHER_PRODUCTS) if rng.random() < 0.4 else old_type
        line_name = f"{series}{new_type}"

        def rewrite(
            text: str,
            line_rng: random.Random = rng,
            series: str = series,
            new_type: str = new_type,
            old: str = old_type,
        ) -> str:
            for real in REAL_SERIES:
                text = text.replace(real, series)
            if new_type != old:
                text = swap_products(text, new_type)
            return redraw_figures(text, line_rng, 0.3)

        models = []
        for _ in range(rng.randint(*MODELS_PER_LINE)):
            template = rng.choice(base["models"])
            model = new_model_number(template["model"], rng, taken)
            specs = {
                key: (rng.choice(spec_values[str(key)]) if rng.random() < 0.5 else rewrite(str(value)))
                for key, value in (template.get("specs") or {}).items()
            }
            item: dict[str, Any] = {
                "id": model_id(model),
                "model": model,
                "name": f"{series} " + rewrite(template["name"]).replace(series, "").strip(),
                "specs": specs,
                "features": [rewrite(f) for f in template.get("features", []) if rng.random() < 0.85],
            }
            if template.get("usage_notes"):
                item["usage_notes"] = [rewrite(n) for n in template["usage_notes"]]
            if template.get("warranty"):
                item["warranty"] = rewrite(template["warranty"])
            item["effective_from"] = random_date(rng, date(2022, 1, 1), 1500)
            if rng.random() < 0.1:  # discontinued
                item["effective_to"] = item["effective_from"] + timedelta(days=rng.randrange(200, 900))
            models.append(item)
        yield {
            "id": f"pl-gen-{number:05d}",
            "product_line": line_name,
            "category": base.get("category"),
            "title": f"{line_name}系列说明",
            "overview": rewrite(base.get("overview", "")),
            "usage_notes": [rewrite(n) for n in base.get("usage_notes", [])],
            "warranty": rewrite(base["warranty"]) if base.get("warranty") else None,
            "tags": list(dict.fromkeys([*(swap_products(t, new_type) for t in base.get("tags", [])), line_name])),
            "models": models,
        }


def _heading(clause: Entry) -> str:
    return clause.title.split("条", 1)[-1].strip()


def policy_stream(material: Material, seed: int) -> Iterator[tuple[str, list[tuple[Entry, str, str]], str]]:
    """(policy id, [(real clause, new heading, new text)], markdown document)."""
    rng = random.Random(seed)
    ids = sorted(material.clauses)
    number = 0
    while True:
        base_id = rng.choice(ids)
        number += 1
        meta = material.policy_meta[base_id]
        scope = rng.choice(SCOPES)
        target = rng.choice(PRODUCT_TYPES) if rng.random() < 0.3 else None
        policy_id = f"pol-gen-{number:05d}-v1"
        title = f"{meta['title']}（{scope}）"
        version = f"{rng.randint(1, 4)}.{rng.randint(0, 9)}"
        effective_from = random_date(rng, date(2023, 1, 1), 1200)
        effective_to = effective_from + timedelta(days=rng.randrange(180, 720)) if rng.random() < 0.15 else None
        front = {
            "id": policy_id,
            "title": title,
            "version": version,
            "effective_from": effective_from,
            "effective_to": effective_to,
            "category": meta.get("category"),
            "channel": meta.get("channel") or [],
            "tags": list(dict.fromkeys([*(meta.get("tags") or []), scope])),
        }
        siblings = material.clauses[base_id]
        lines = ["---", yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=1000).strip(), "---"]
        chapter = None
        made = []
        for clause in siblings:
            text = clause.text
            if target:
                text = swap_products(text, target)
            text = redraw_figures(text, rng)
            if rng.random() < 0.2:  # a sentence of a sibling clause: clause lengths vary as real ones do
                extra = SENTENCE.findall(rng.choice(siblings).text)
                if extra:
                    text += rng.choice(extra)
            if clause.source.chapter and clause.source.chapter != chapter:
                chapter = clause.source.chapter
                lines += ["", f"# {chapter}"]
            heading = _heading(clause)
            lines += ["", f"## 第{clause.source.clause}条 {heading}", text]
            made.append((clause, heading, text))
        yield policy_id, made, "\n".join(lines) + "\n"


def script_stream(material: Material, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    number = 0
    while True:
        base = rng.choice(material.script_files)
        number += 1
        qualifier = rng.choice(ORDER_TYPES)
        target = rng.choice(PRODUCT_TYPES)
        scripts = []
        for n, script in enumerate(base["scripts"], start=1):
            item = {k: v for k, v in script.items() if k != "id"}
            item["id"] = f"scr-gen-{number:05d}-{n:02d}"
            text = swap_products(str(script["text"]), target)
            item["text"] = redraw_figures(text, rng)
            scripts.append(item)
        document = {k: v for k, v in base.items() if k != "scripts"}
        document["scenario"] = f"{base['scenario']}·{qualifier}"
        document["tags"] = [*(base.get("tags") or []), qualifier]
        document["scripts"] = scripts
        yield document


# --- writing -------------------------------------------------------------------------------------


def plan(size: int, real: int) -> dict[str, int]:
    generated = max(0, size - real)
    counts = {kind: int(generated * share) for kind, share in SHARES.items()}
    counts["faq"] += generated - sum(counts.values())
    return counts


def write_faqs(folder: Path, faqs: list[Faq]) -> None:
    for part, start in enumerate(range(0, len(faqs), FAQS_PER_FILE)):
        chunk = faqs[start : start + FAQS_PER_FILE]
        if part % 2 == 0:
            path = folder / f"gen-{part:04d}.csv"
            with path.open("w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(CSV_HEADER)
                for f in chunk:
                    writer.writerow(
                        [
                            f.id,
                            f.question,
                            "|".join(f.similar),
                            f.answer,
                            f.category or "",
                            f.product_line or "",
                            "|".join(f.tags),
                            "|".join(f.channel),
                            f.effective_from.isoformat() if f.effective_from else "",
                            f.effective_to.isoformat() if f.effective_to else "",
                        ]
                    )
        else:
            path = folder / f"gen-{part:04d}.jsonl"
            with path.open("w", encoding="utf-8") as handle:
                for f in chunk:
                    record = {
                        "id": f.id,
                        "question": f.question,
                        "similar_questions": f.similar,
                        "answer": f.answer,
                        "category": f.category,
                        "product_line": f.product_line,
                        "tags": f.tags,
                        "channel": f.channel,
                        "effective_from": f.effective_from.isoformat() if f.effective_from else None,
                        "effective_to": f.effective_to.isoformat() if f.effective_to else None,
                    }
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def dump_yaml(path: Path, document: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8")


# --- questions -----------------------------------------------------------------------------------


def perturb(text: str, rng: random.Random, synonyms: dict[str, list[str]], qualifier: str | None) -> str:
    """The way a customer types a question the knowledge base words differently."""
    text = text.rstrip("？?。")
    if qualifier and text.startswith(qualifier) and rng.random() < 0.3:
        text = text[len(qualifier) :]
    present = [c for c in synonyms if c in text]
    if present and rng.random() < 0.6:
        canonical = rng.choice(sorted(present))
        text = text.replace(canonical, rng.choice(synonyms[canonical]), 1)
    if rng.random() < 0.15:
        text += "，" + rng.choice(URGENT)
    text = rng.choice(FILLER_BEFORE) + text + rng.choice(FILLER_AFTER)
    if rng.random() < 0.3:
        text = re.sub(r"[，。？！、]", " ", text).strip()
    return text


def mangle_model(model: str, rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.3:
        return model.lower()
    if choice < 0.55:
        return re.sub(r"[-/()]", "", model).lower()
    if choice < 0.8:
        parts = [p for p in re.split(r"[-/()]", model) if p]
        return max(parts, key=len)
    return model


PRODUCT_QUESTIONS: list[Callable[[str, str, str], str]] = [
    lambda m, k, n: f"{m}的{k}是多少",
    lambda m, k, n: f"{m} {k}多少",
    lambda m, k, n: f"{m}{k}",
    lambda m, k, n: f"{m}保修几年",
    lambda m, k, n: f"请问{m}这款怎么样",
    lambda m, k, n: f"{n}的{k}",
]
POLICY_QUESTIONS: list[Callable[[str, str], str]] = [
    lambda scope, h: f"{scope}{h}是怎么规定的",
    lambda scope, h: f"{scope}的{h}",
    lambda scope, h: f"{h}，{scope}有什么不一样吗",
]


def real_questions(data: Path) -> list[dict[str, Any]]:
    out = []
    for name in ("questions.jsonl", "holdout.jsonl"):
        path = data / "eval" / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    out.append(
                        {
                            "query": record["query"],
                            "relevant_ids": record.get("relevant_ids", []),
                            "source": f"data/eval/{name}",
                        }
                    )
    return out


def generated_questions(
    rng: random.Random,
    material: Material,
    faqs: list[Faq],
    models: list[dict[str, Any]],
    clauses: list[tuple[str, str, str]],
    count: int,
) -> list[dict[str, Any]]:
    """``count`` distinct questions: 60% FAQ wordings, 25% model questions, 15% policy questions."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    targets = {"faq": int(count * 0.6), "product": int(count * 0.25)}
    targets["policy"] = count - targets["faq"] - targets["product"]
    made = {"faq": 0, "product": 0, "policy": 0}
    attempts = 0
    while sum(made.values()) < count and attempts < count * 50:
        attempts += 1
        kind = next(k for k in ("faq", "product", "policy") if made[k] < targets[k] or not clauses)
        if kind == "faq" and faqs:
            faq = rng.choice(faqs)
            wording = rng.choice(faq.similar or [faq.question])
            query, relevant = perturb(wording, rng, material.synonyms, faq.qualifier), faq.id
        elif kind == "product" and models:
            model = rng.choice(models)
            key = rng.choice(list(model["specs"]) or ["参数"])
            template = rng.choice(PRODUCT_QUESTIONS)
            query, relevant = template(mangle_model(model["model"], rng), key, model["name"]), model["id"]
        elif clauses:
            kind = "policy"
            clause_id, scope, heading = rng.choice(clauses)
            query, relevant = rng.choice(POLICY_QUESTIONS)(scope, heading), clause_id
        else:
            break
        if query in seen:
            continue
        seen.add(query)
        made[kind] += 1
        out.append({"query": query, "relevant_ids": [relevant], "source": f"generated-{kind}"})
    return out


# --- main ----------------------------------------------------------------------------------------


def generate(data: Path, out: Path, size: int, seed: int, questions: int) -> dict[str, Any]:
    material = load_material(data)
    real_entries = len(load_knowledge_base(data).entries)
    counts = plan(size, real_entries)
    target = out / "data"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(data, target, ignore=shutil.ignore_patterns("eval"))

    faqs = [f for f, _ in zip(faq_stream(material, seed * 1000 + 1), range(counts["faq"]), strict=False)]
    write_faqs(target / "faq", faqs)

    models: list[dict[str, Any]] = []
    product_entries = 0
    lines = product_line_stream(material, seed * 1000 + 2)
    line_number = 0
    while product_entries < counts["product"]:
        line = next(lines)
        room = counts["product"] - product_entries - 1  # the overview is an entry too
        if room < 1:
            break
        line["models"] = line["models"][:room]
        product_entries += 1 + len(line["models"])
        models += line["models"]
        dump_yaml(target / "products" / f"gen-{line_number:05d}.yaml", line)
        line_number += 1

    clause_questions: list[tuple[str, str, str]] = []
    clause_count = 0
    policies = policy_stream(material, seed * 1000 + 3)
    policy_number = 0
    while clause_count < counts["policy"]:
        policy_id, made, document = next(policies)
        room = counts["policy"] - clause_count
        if len(made) > room:  # cut the last document at a clause boundary
            keep = made[:room]
            last_heading = f"## 第{keep[-1][0].source.clause}条 {keep[-1][1]}"
            text = keep[-1][2]
            document = document[: document.index(last_heading)] + f"{last_heading}\n{text}\n"
            made = keep
        clause_count += len(made)
        scope = re.search(r"（(.+)）", document.split("title:", 1)[1].splitlines()[0])
        for clause, heading, _ in made:
            clause_questions.append((f"{policy_id}-c{clause.source.clause}", scope.group(1) if scope else "", heading))
        (target / "policies" / f"gen-{policy_number:05d}.md").write_text(document, encoding="utf-8")
        policy_number += 1

    script_count = 0
    scripts = script_stream(material, seed * 1000 + 4)
    script_number = 0
    while script_count < counts["script"]:
        document = next(scripts)
        document["scripts"] = document["scripts"][: counts["script"] - script_count]
        script_count += len(document["scripts"])
        dump_yaml(target / "scripts" / f"gen-{script_number:05d}.yaml", document)
        script_number += 1

    asked = real_questions(data)
    rng = random.Random(seed * 1000 + 5)
    asked += generated_questions(rng, material, faqs, models, clause_questions, questions)
    distinct = list({q["query"]: q for q in asked}.values())
    with (out / "questions.jsonl").open("w", encoding="utf-8") as handle:
        for number, question in enumerate(distinct, start=1):
            handle.write(json.dumps({"qid": f"b{number:05d}", **question}, ensure_ascii=False) + "\n")

    manifest = {
        "generator_version": GENERATOR_VERSION,
        "size": size,
        "seed": seed,
        "questions_generated": questions,
        "source": str(data),
        "source_sha256": source_digest(data),
        "entries": {"real": real_entries, **counts},
        "files": {
            "faq": len(list((target / "faq").glob("gen-*"))),
            "products": line_number,
            "policies": policy_number,
            "scripts": script_number,
        },
        "questions": {"total": len(distinct), "real": sum(1 for q in distinct if q["source"].startswith("data/"))},
    }
    (out / "generated.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def source_digest(data: Path) -> str:
    """What the output depends on: every file of the real knowledge base (others edit data/ all the time)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        digest.update(path.relative_to(data).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_current(out: Path, data: Path, size: int, seed: int, questions: int) -> bool:
    path = out / "generated.json"
    if not path.is_file() or not (out / "data").is_dir():
        return False
    manifest = json.loads(path.read_text(encoding="utf-8"))
    wanted = {
        "generator_version": GENERATOR_VERSION,
        "size": size,
        "seed": seed,
        "questions_generated": questions,
        "source_sha256": source_digest(data),
    }
    return all(manifest.get(k) == v for k, v in wanted.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000, help="entries in all, data/ included (default 10000)")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/out/kb-<size>)")
    parser.add_argument("--data", type=Path, default=REPO / "data", help="the real knowledge base (default data/)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--questions", type=int, default=1500, help="generated questions (besides data/eval's)")
    args = parser.parse_args(argv)
    if args.size < 1 or args.questions < 0:
        parser.error("--size must be positive and --questions not negative")
    out = args.out or REPO / "benchmarks" / "out" / f"kb-{args.size}"
    out.mkdir(parents=True, exist_ok=True)
    manifest = generate(args.data, out, args.size, args.seed, args.questions)
    print(json.dumps(manifest, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
