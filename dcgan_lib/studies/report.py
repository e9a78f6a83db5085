"""What the §6 studies found, in words: what pages 06-09 share to show and glue their numbers.

Each page's reader is its own module (``report_walks``, ``report_guided``, ``report_forgetting``,
``report_arithmetic``): functions that read a study's metrics (stored, or computed on the page)
and return markdown, or a ``{name: text}`` dict for ``book.glue_texts`` (a missing study gives
"not produced yet" for each name), and the figures a page draws itself (from the data, which is
never stored) or checks again. A page then holds the paper's claims and the library's calls; the
reading of its numbers is in the library, where it is tested. The studies never import these
modules. Paper: §6.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from dcgan_lib import book, plotting
from dcgan_lib.data import Packed, load_dataset
from dcgan_lib.studies.faces import faces_model_summary
from dcgan_lib.studies.latent import FacesStudy, LatentStudyConfig, study_figures


def markdown_table(header: Sequence[str], rows: list[Sequence[object]]) -> str:
    """A markdown table from a header and rows (two columns may share a name, which the dict rows
    of ``book.markdown_table`` cannot)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def model_glue(run: dict | None) -> dict[str, str]:
    """The stored faces model (FID-10k, updates) and where the study ran (``metrics["run"]``)."""
    faces = faces_model_summary()
    return {
        "fid": faces["fid"],
        "model_steps": faces["steps"],
        "cpu": f"{run['cpu_seconds']:.0f} s of CPU" if run else "computed on this page",
        "machine": run.get("machine", "this machine") if run else "this machine",
    }


def show_faces_figure(
    study: FacesStudy | None, cfg: LatentStudyConfig, stored: str, name: str
) -> None:
    """Show picture ``name`` of the faces study (``studies.latent.study_figures``): drawn here
    when the study ran on this page, else the one stored in ``artifacts/<stored>`` (or the
    not-produced message naming its command). Paper: §6.1, §6.3.2."""
    drawn = study_figures(study, cfg) if study is not None and study.figures else {}
    plotting.show_study_figure(drawn, stored, name)


def faces_data(data_root=None) -> Packed | None:
    """CelebA-10k at 64 px from ``data_root`` (or ``$DCGAN_DATA``), for what a page draws from
    the data (never stored); without it, the data-missing message and None."""
    load = partial(load_dataset, "celeba", data_root, image_size=64, progress=False)
    return book.result("book", load=load)


def code_markdown(*objs: object) -> str:
    """The library's own source of each object as markdown (its dotted name, then a Python block):
    what ``book.show_source`` shows, to fold into a dropdown (``chapter.show_fold``)."""
    import inspect

    parts = []
    for obj in objs:
        where = f"{inspect.getmodule(obj).__name__}.{getattr(obj, '__qualname__', '')}"  # type: ignore[union-attr]
        parts.append(f"`{where}`\n\n```python\n{inspect.getsource(obj)}```")  # type: ignore[arg-type]
    return "\n\n".join(parts)


def show_code(title: str, *objs: object) -> None:
    """Display the library's source of ``objs`` folded into a dropdown titled ``title``: the code
    a chapter teaches, one click away, so the page stays short. Paper: §6."""
    from dcgan_lib.chapter import show_fold

    show_fold(title, code_markdown(*objs))


def modes_glue(runs: Callable, sizes: Mapping, smoke_job: str, stored: str) -> dict[str, str]:
    """A §6 page's mode table, glued: what each size runs (``runs(sizes[size])``), the smoke
    command's measured cost (``run_yourself.cost_text(smoke_job)``) and the stored study's own
    (the manifest's CPU measurements of ``stored``, ``chapter.measured_costs``). Paper: §6."""
    from dcgan_lib.chapter import measured_costs
    from dcgan_lib.run_yourself import NOT_MEASURED, cost_text

    return {
        "smoke_runs": runs(sizes["smoke"]),
        "book_runs": runs(sizes["book"]),
        "full_runs": runs(sizes["full"]),
        "smoke_cost": cost_text(smoke_job),
        "book_cost": "; ".join(measured_costs((stored,))["CPU"]) or NOT_MEASURED,
    }
