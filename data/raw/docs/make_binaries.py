"""Regenerate the two binary sample documents (run: .venv/bin/python data/raw/docs/make_binaries.py).

status-and-incidents.pdf: a two-page English PDF (fpdf2, core Helvetica font).
对象存储常见问题.docx: a Chinese Word document with a table (python-docx).
Both are committed; this script is how they were made. The text is invented (Northwind Cloud
is fictional) and written by the autorerank team.
"""

from __future__ import annotations

import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

PDF_PAGES = [
    ("Status page and incidents",
     "The status page at status.northwind.example shows the health of every service in every region. "
     "Subscribe by email, SMS or webhook to get a message when an incident starts, changes or ends. "
     "Incidents are posted within ten minutes of detection, and a written post-mortem follows within five "
     "business days for every incident that lasted longer than thirty minutes."),
    ("Service credits",
     "If a service misses its monthly uptime commitment, you can claim a service credit. Compute and object "
     "storage commit to 99.95% a month; managed databases with high availability commit to 99.99%. Claim the "
     "credit from Support > New ticket within 30 days of the end of the month, and include the affected "
     "resource IDs. Credits are applied to the next invoice and never paid out in cash."),
]

DOCX_PARAGRAPHS = [
    "对象存储常见问题",
    "存储桶的名称在全局范围内唯一，创建后不能修改。单个对象最大 5 TB，存储桶内的对象数量不受限制。",
    "误删的对象只有在删除时已经开启了版本控制，或者备份策略复制过该存储桶的情况下才能恢复。"
    "请在“存储桶 > 设置”中开启版本控制，历史版本会计入存储费用。",
    "生命周期规则可以在指定天数后把对象转为归档存储，或者直接删除。读取归档对象需要先解冻，最长需要十二小时。",
]
DOCX_TABLE = [("存储类型", "价格（每 GB 每月）"), ("标准存储", "0.12 元"), ("低频存储", "0.08 元"), ("归档存储", "0.03 元")]


def make_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc))  # reproducible bytes
    for title, body in PDF_PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, body, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading(DOCX_PARAGRAPHS[0], level=1)
    for text in DOCX_PARAGRAPHS[1:]:
        document.add_paragraph(text)
    table = document.add_table(rows=0, cols=2)
    for left, right in DOCX_TABLE:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = left, right
    document.save(str(path))


if __name__ == "__main__":
    make_pdf(HERE / "en" / "status-and-incidents.pdf")
    make_docx(HERE / "zh" / "对象存储常见问题.docx")
