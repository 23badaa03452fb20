"""Read documents for `generate`: .txt/.md, .html, .pdf, .docx, and JSONL/CSV rows with a text column.

Folders are walked recursively (hidden files skipped; other file types counted as skipped).
A file that cannot be read (binary, encrypted or image-only PDF, broken .docx, empty) stops the
run with one message naming it, unless `skip_unreadable` is set: then it is counted per reason.
Rows of JSONL/CSV files with an empty text are counted, never silently lost.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from wrapper.dataset import iter_jsonl_text
from wrapper.errors import InputError

TEXT_EXT = (".txt", ".md", ".markdown", ".rst")
HTML_EXT = (".html", ".htm")
ROW_EXT = (".jsonl", ".csv", ".tsv")
SUPPORTED = TEXT_EXT + HTML_EXT + ROW_EXT + (".pdf", ".docx")
TEXT_COLUMNS = ("text", "content", "body", "passage", "document", "chunk")
ID_COLUMNS = ("id", "_id", "doc_id", "document_id")


@dataclass
class Document:
    doc_id: str
    source: str
    text: str
    title: str | None = None


@dataclass
class ReadResult:
    documents: list[Document]
    files: list[dict]
    skipped: Counter


def list_files(sources: list[Path], skipped: Counter) -> list[Path]:
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in found.relative_to(path).parts):
                    continue
                if found.suffix.lower() in SUPPORTED:
                    files.append(found)
                else:
                    skipped["unsupported_file_type"] += 1
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED:
                raise InputError.at(path, f"cannot read {path.suffix or 'files without an extension'}",
                                    hint="generate reads " + ", ".join(SUPPORTED))
            files.append(path)
        else:
            raise InputError.at(path, "no such file or folder")
    if not files:
        raise InputError.at(", ".join(str(s) for s in sources), "no readable documents found",
                            hint="give .txt, .md, .html, .pdf, .docx files, or JSONL/CSV with a text column")
    return files


def read_documents(sources: list[Path], *, text_col: str | None = None, encoding: str = "utf-8",
                   skip_unreadable: bool = False) -> ReadResult:
    skipped: Counter = Counter()
    documents: list[Document] = []
    files_info: list[dict] = []
    roots = [Path(s) for s in sources]
    for path in list_files(roots, skipped):
        doc_base = _doc_base(path, roots)
        try:
            docs = _read_file(path, doc_base, text_col=text_col, encoding=encoding, skipped=skipped)
        except _Unreadable as exc:
            if not skip_unreadable:
                raise InputError.at(path, exc.problem, hint=(exc.hint + "; " if exc.hint else "")
                                    + "or pass --skip-unreadable to skip such files and count them") from None
            skipped[exc.reason] += 1
            files_info.append({"path": str(path), "documents": 0, "skipped": exc.reason})
            continue
        documents.extend(docs)
        files_info.append({"path": str(path), "documents": len(docs)})
    return ReadResult(documents, files_info, skipped)


class _Unreadable(Exception):
    def __init__(self, reason: str, problem: str, hint: str = ""):
        super().__init__(problem)
        self.reason, self.problem, self.hint = reason, problem, hint


def _doc_base(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if root.is_dir():
            try:
                return path.relative_to(root).as_posix()
            except ValueError:
                continue
    return path.name


def _read_file(path: Path, doc_base: str, *, text_col, encoding, skipped: Counter) -> list[Document]:
    suffix = path.suffix.lower()
    if suffix in ROW_EXT:
        return _read_rows(path, doc_base, text_col=text_col, encoding=encoding, skipped=skipped)
    if suffix == ".pdf":
        text = _pdf_text(path)
    elif suffix == ".docx":
        text = _docx_text(path)
    else:
        raw = _read_text(path, encoding)
        text = _html_text(raw) if suffix in HTML_EXT else raw
    text = _tidy(text)
    if not text:
        raise _Unreadable("empty_file", "the document has no text")
    return [Document(doc_base, str(path), text)]


def _read_text(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise _Unreadable("binary_file", "this is a binary file, not text", "convert it to .txt/.md/.pdf/.docx")
    try:
        return data.decode("utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        raise _Unreadable("bad_encoding", f"not valid {encoding} text (byte {exc.start})",
                          "pass --encoding (e.g. gb18030, latin-1)") from None


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


class _HTMLText(HTMLParser):
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "table",
             "ul", "ol", "pre", "blockquote", "title"}
    SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html_text(raw: str) -> str:
    parser = _HTMLText()
    parser.feed(raw)
    parser.close()
    return "\n".join(line.strip() for line in "".join(parser.parts).split("\n"))


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported encryption
                ok = 0
            if not ok:
                raise _Unreadable("encrypted_pdf", "the PDF is encrypted (password-protected)",
                                  "save an unencrypted copy (e.g. qpdf --decrypt in.pdf out.pdf)")
        text = "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except _Unreadable:
        raise
    except (PdfReadError, ValueError, OSError, KeyError) as exc:
        raise _Unreadable("broken_pdf", f"not a readable PDF ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not text.strip():
        raise _Unreadable("pdf_without_text", "the PDF has no extractable text (a scan or images only)",
                          "run OCR on it first (e.g. ocrmypdf)")
    return text


def _docx_text(path: Path) -> str:
    import zipfile

    import docx
    from docx.opc.exceptions import OpcError

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, OpcError, KeyError, ValueError, OSError) as exc:
        raise _Unreadable("broken_docx", f"not a readable .docx ({type(exc).__name__})",
                          "open and re-save it as .docx (old .doc files are not supported)") from None
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n\n".join(parts)


def _pick(columns: list[str], wanted: str | None, choices: tuple[str, ...], path: Path) -> str | None:
    if wanted:
        if wanted not in columns:
            raise InputError.at(path, f"no column {wanted!r}; columns: {', '.join(columns) or '(none)'}",
                                hint="name the text column with --text-col")
        return wanted
    lowered = {c.lower(): c for c in columns}
    return next((lowered[c] for c in choices if c in lowered), None)


def _read_rows(path: Path, doc_base: str, *, text_col, encoding, skipped: Counter) -> list[Document]:
    raw = _read_text(path, encoding)
    rows: list[tuple[int, dict]]
    if path.suffix.lower() == ".jsonl":
        rows = list(iter_jsonl_text(path, raw, hint="each line must be one JSON object, e.g. {\"text\": \"...\"}"))
    else:
        reader = csv.DictReader(raw.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        rows = [(i + 2, row) for i, row in enumerate(reader)]
    if not rows:
        raise _Unreadable("empty_file", "the file has no rows")
    columns = list(rows[0][1].keys())
    column = _pick(columns, text_col, TEXT_COLUMNS, path)
    if column is None:
        raise InputError.at(path, f"no text column; columns: {', '.join(columns)}",
                            hint=f"name it with --text-col (looked for {', '.join(TEXT_COLUMNS)})")
    id_column = _pick(columns, None, ID_COLUMNS, path)
    title_column = _pick(columns, None, ("title",), path)
    docs = []
    for lineno, row in rows:
        text = _tidy(str(row.get(column) or ""))
        if not text:
            skipped["empty_text_row"] += 1
            continue
        title = str(row.get(title_column) or "").strip() if title_column else ""
        ident = str(row.get(id_column)) if id_column and row.get(id_column) not in (None, "") else f"line{lineno}"
        docs.append(Document(f"{doc_base}#{ident}", str(path), f"{title}\n\n{text}" if title else text, title or None))
    return docs
