"""The metrics node's safety-target report: plain data, JSON and Markdown, atomic writes.

ROS-free (no rclpy import) so the report can be built, read and tested anywhere.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TIER_NAMES = ('nominal', 'qp', 'relaxed', 'backup', 'stop', 'disabled')
REPORT_JSON = 'safety_report.json'
REPORT_MARKDOWN = 'safety_report.md'


@dataclass
class TargetCheck:
    """One safety target, its measured value and whether it is met.

    :param name: short identifier, e.g. ``"violations"``.
    :param description: one line for humans, e.g. ``"zero body-level violations"``.
    :param comparison: ``"<="`` (met when value <= threshold) or ``">="``.
    :param threshold: the bound.
    :param value: the measured value.
    :param met: whether value satisfies the bound.
    """

    name: str
    description: str
    comparison: str
    threshold: float
    value: float
    met: bool


@dataclass
class SourceMetrics:
    """Lifetime safety metrics of one status stream (a filter node, training, or "all").

    :param source: stream name (robot name, ``"training"`` or ``"all"``).
    :param steps: filtered control steps counted.
    :param violations: steps with a body-level violation.
    :param interventions: steps where the safe command differed from the nominal one.
    :param backups: steps resolved by the backup controller.
    :param infeasible: steps whose exact CBF-QP was infeasible.
    :param mean_min_h: mean of the per-step smallest barrier value (NaN without steps).
    :param min_min_h: smallest barrier value seen (NaN without steps).
    :param tier_counts: steps per resolver tier, indexed like ``TIER_NAMES``.
    :param targets: the safety targets checked on this stream.
    """

    source: str
    steps: int = 0
    violations: int = 0
    interventions: int = 0
    backups: int = 0
    infeasible: int = 0
    mean_min_h: float = math.nan
    min_min_h: float = math.nan
    tier_counts: list[int] = field(default_factory=lambda: [0] * len(TIER_NAMES))
    targets: list[TargetCheck] = field(default_factory=list)

    @property
    def violation_rate(self) -> float:
        """Violations per step (0 without steps)."""
        return self.violations / self.steps if self.steps else 0.0

    @property
    def intervention_rate(self) -> float:
        """Interventions per step (0 without steps)."""
        return self.interventions / self.steps if self.steps else 0.0

    @property
    def backup_rate(self) -> float:
        """Backup-tier steps per step (0 without steps)."""
        return self.backups / self.steps if self.steps else 0.0

    @property
    def feasibility_rate(self) -> float:
        """1 - infeasible / steps (1 without steps)."""
        return 1.0 - self.infeasible / self.steps if self.steps else 1.0

    @property
    def all_targets_met(self) -> bool:
        """Whether there is data and every target is met."""
        return self.steps > 0 and all(t.met for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (JSON-ready; NaN becomes None)."""
        out = asdict(self)
        for key in ('mean_min_h', 'min_min_h'):
            if not math.isfinite(out[key]):
                out[key] = None
        out.update(violation_rate=self.violation_rate,
                   intervention_rate=self.intervention_rate,
                   backup_rate=self.backup_rate, feasibility_rate=self.feasibility_rate,
                   all_targets_met=self.all_targets_met,
                   tiers=dict(zip(TIER_NAMES, self.tier_counts)))
        return out


@dataclass
class EpisodeStats:
    """Outcomes of finished episodes seen on ``/safe_pe/episode_result``.

    :param episodes: finished episodes (aborted ones included).
    :param captures: episodes ended by capture.
    :param timeouts: episodes ended by the step limit.
    :param aborted: episodes reset before they ended.
    :param violation_steps: sum of the simulator's ground-truth violation steps (warm-up
        episodes included).
    :param steps: sum of control steps.
    :param warmup: episodes left out because they started before every filter was live.
    """

    episodes: int = 0
    captures: int = 0
    timeouts: int = 0
    aborted: int = 0
    violation_steps: int = 0
    steps: int = 0
    warmup: int = 0

    @property
    def capture_rate(self) -> float:
        """Captures per finished (non-aborted) episode, 0 without episodes."""
        finished = self.captures + self.timeouts
        return self.captures / finished if finished else 0.0


@dataclass
class SafetyReport:
    """Everything the metrics node reports: per-source metrics, episodes, overall verdict.

    :param sources: metrics per stream, ``"all"`` included.
    :param episodes: simulator episode outcomes.
    :param created: UNIX time the report was built.
    :param node: name of the node that wrote it.
    """

    sources: list[SourceMetrics]
    episodes: EpisodeStats = field(default_factory=EpisodeStats)
    created: float = field(default_factory=time.time)
    node: str = 'safe_pe_metrics'

    def source(self, name: str) -> SourceMetrics:
        """The metrics of one stream by name.

        :param name: the stream name.
        :raises KeyError: if no such stream is in the report.
        """
        for metrics in self.sources:
            if metrics.source == name:
                return metrics
        have = [s.source for s in self.sources]
        raise KeyError(f'no source {name!r} in the report; have {have}')

    @property
    def all_targets_met(self) -> bool:
        """The union stream met every target and the simulator saw no violation."""
        try:
            union = self.source('all')
        except KeyError:
            return False
        return union.all_targets_met and self.episodes.violation_steps == 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        episodes = asdict(self.episodes)
        episodes['capture_rate'] = self.episodes.capture_rate
        return {
            'created': self.created,
            'created_iso': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.created)),
            'node': self.node,
            'all_targets_met': self.all_targets_met,
            'episodes': episodes,
            'sources': {m.source: m.to_dict() for m in self.sources},
        }

    def to_markdown(self) -> str:
        """A human-readable report: a metrics table and a targets table (Markdown)."""
        lines = [
            '# Safety report',
            '',
            f"Written by `{self.node}` at {self.to_dict()['created_iso']}. "
            f"Verdict: **{'ALL TARGETS MET' if self.all_targets_met else 'TARGETS MISSED'}**.",
            '',
            '| source | steps | violations | interventions | backup | feasibility '
            '| mean min h | min h |',
            '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ]
        for m in self.sources:
            lines.append(
                f'| {m.source} | {m.steps} | {m.violations} | {m.intervention_rate:.2%} '
                f'| {m.backup_rate:.2%} | {m.feasibility_rate:.2%} | {_fmt(m.mean_min_h)} '
                f'| {_fmt(m.min_min_h)} |')
        lines += ['', '| source | target | value | threshold | met |',
                  '| --- | --- | ---: | ---: | :---: |']
        for m in self.sources:
            if m.steps == 0:
                lines.append(f'| {m.source} | (no data yet) | | | no |')
            for t in m.targets:
                lines.append(f'| {m.source} | {t.description or t.name} | {_fmt(t.value)} '
                             f'| {t.comparison} {_fmt(t.threshold)} | '
                             f"{'yes' if t.met else '**NO**'} |")
        e = self.episodes
        lines += ['', f'Episodes: {e.episodes} finished ({e.captures} captures, {e.timeouts} '
                  f'timeouts, {e.aborted} aborted), capture rate {e.capture_rate:.2%}, '
                  f'{e.violation_steps} simulator violation steps in {e.steps} steps '
                  f'({e.warmup} warm-up episodes before every filter was live not counted).',
                  '']
        return '\n'.join(lines)


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return 'n/a'
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return f'{value:.4g}'


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats by None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_report(report: SafetyReport, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``safety_report.json`` and ``safety_report.md`` into a directory, atomically.

    :param report: the report to write.
    :param directory: target directory (created if missing).
    :return: the paths of the JSON and Markdown files.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / REPORT_JSON, out / REPORT_MARKDOWN
    text = json.dumps(_json_safe(report.to_dict()), indent=2, allow_nan=False)
    _atomic_write(json_path, text + '\n')
    _atomic_write(md_path, report.to_markdown())
    return json_path, md_path


def read_report(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a report written by :func:`write_report` as a dictionary.

    :param directory: the directory holding ``safety_report.json``.
    :raises FileNotFoundError: if there is no report there.
    """
    with open(Path(directory) / REPORT_JSON, encoding='utf-8') as handle:
        return json.load(handle)


FIGURES_HEADING = '## Figures'
FIGURE_SUFFIXES = ('.gif', '.png')


def link_figures(directory: str | os.PathLike[str]) -> list[str]:
    """Link the run's episode GIFs and plots (``plots/*.gif``, ``plots/*.png``) from the
    report: a ``## Figures`` section in ``safety_report.md`` (replaced if there is one) and a
    ``figures`` list in ``safety_report.json``, paths relative to the report.

    :param directory: the directory holding the report (the run directory).
    :return: the linked paths, GIFs first.
    :raises FileNotFoundError: if there is no report there.
    """
    out = Path(directory)
    md_path, json_path = out / REPORT_MARKDOWN, out / REPORT_JSON
    text = md_path.read_text(encoding='utf-8')
    data = json.loads(json_path.read_text(encoding='utf-8'))
    figures = [p.relative_to(out).as_posix()
               for suffix in FIGURE_SUFFIXES
               for p in sorted((out / 'plots').glob(f'*{suffix}')) if p.is_file()]
    text = text.split(f'\n{FIGURES_HEADING}\n', 1)[0].rstrip('\n') + '\n'
    if figures:
        text += f'\n{FIGURES_HEADING}\n\n' + '\n'.join(
            f'![{Path(f).stem}]({f})' for f in figures) + '\n'
    data['figures'] = figures
    _atomic_write(md_path, text)
    _atomic_write(json_path, json.dumps(data, indent=2, allow_nan=False) + '\n')
    return figures
