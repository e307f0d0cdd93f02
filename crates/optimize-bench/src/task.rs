//! The user's own measure of quality, when it is not top-1 accuracy or output closeness: a
//! [`TaskMetric`] judges verification and the `--auto` search in place of the cosine.
//!
//! - [`DetectionLayout`]: a detector's raw output (`[batch, channels, anchors]` as YOLOv8
//!   exports it, or `[batch, anchors, channels]`) read as detections: per anchor, the box and the
//!   best class score; anchors above a score threshold, after per-class non-maximum suppression,
//!   are the detections. The candidate's detections are matched to float32's (same class, IoU at
//!   least [`DetectionLayout::iou`]) and scored as F1 against float32's, so a model that keeps
//!   its box coordinates while its class scores drift is caught: raw-output cosine is dominated
//!   by coordinates in pixels and passed a detector at F1 0.77.
//! - [`MetricCommand`]: the user's own evaluation script, given the model's path, printing one
//!   number (accuracy, character accuracy, mAP, WER...), with its direction.
//!
//! ```
//! use optimize_bench::task::DetectionLayout;
//! let layout: DetectionLayout = "boxes:0..4,scores:4..,threshold:0.3".parse().unwrap();
//! assert_eq!(layout.boxes, (0, 4));
//! assert_eq!(layout.scores, (4, None));
//! assert_eq!(layout.to_string(), "boxes:0..4,scores:4..,format:cxcywh,threshold:0.3,iou:0.5");
//! ```

use crate::{Error, Result};
use optimize_data::Tensor;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// What a candidate model is judged by, beyond output closeness. In TOML:
/// `task = { detection = "boxes:0..4,scores:4.." }` or
/// `task = { command = { argv = ["python", "eval.py", "{model}"], higher_is_better = true } }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskMetric {
    /// Detections against float32's, as F1.
    Detection(DetectionLayout),
    /// An external command that prints one number.
    Command(MetricCommand),
}

impl TaskMetric {
    /// How reports name this judge.
    pub fn describe(&self) -> String {
        match self {
            TaskMetric::Detection(l) => format!("detection F1 against float32 ({l})"),
            TaskMetric::Command(c) => c.describe(),
        }
    }

    /// Short name for tables: `detection F1` or `metric command`.
    pub fn short(&self) -> &'static str {
        match self {
            TaskMetric::Detection(_) => "detection F1",
            TaskMetric::Command(_) => "metric command",
        }
    }

    /// Whether larger values are better.
    pub fn higher_is_better(&self) -> bool {
        match self {
            TaskMetric::Detection(_) => true,
            TaskMetric::Command(c) => c.higher_is_better,
        }
    }
}

/// The task metric of the original and of the candidate, as a verification measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskChange {
    /// The judge, in words ([`TaskMetric::describe`]).
    pub judge: String,
    /// The original model's value (1 for detection F1: float32 against itself).
    pub before: f64,
    /// The candidate's value.
    pub after: f64,
    /// Whether larger values are better.
    pub higher_is_better: bool,
    /// Samples it was measured on; `None` for a command, which reads its own data.
    pub samples: Option<usize>,
    /// Detection counts, for the detection judge.
    pub detections: Option<DetectionCounts>,
}

impl TaskChange {
    /// How much worse the candidate is, in the metric's units (negative when it is better).
    pub fn drop(&self) -> f64 {
        if self.higher_is_better {
            self.before - self.after
        } else {
            self.after - self.before
        }
    }
}

/// How box corners are encoded in the box channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxFormat {
    /// Centre x, centre y, width, height (YOLOv5/v8 exports).
    #[default]
    Cxcywh,
    /// Left, top, right, bottom.
    Xyxy,
}

/// Where a detector's output keeps its boxes and class scores, and how detections are read;
/// written `boxes:0..4,scores:4..[,axis:1][,format:xyxy][,threshold:0.25][,iou:0.5][,output:NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DetectionLayout {
    /// The output holding the detections; unset, the first output of rank 2 or 3.
    pub output: Option<String>,
    /// The channel range of the four box values.
    pub boxes: (usize, usize),
    /// The channel range of the class scores (end unset: to the last channel).
    pub scores: (usize, Option<usize>),
    /// The channel axis; unset, the smaller of the two non-batch axes that holds every channel
    /// named (a YOLOv8 `[1, 84, 8400]` has its channels on axis 1).
    pub axis: Option<usize>,
    /// Box encoding (default centre-width-height).
    pub format: BoxFormat,
    /// Score at or above which an anchor is a detection (default 0.25, as Ultralytics predicts).
    pub threshold: f32,
    /// IoU at or above which two boxes are the same object, for suppression and matching
    /// (default 0.5).
    pub iou: f32,
}

impl std::str::FromStr for DetectionLayout {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let range = |v: &str| -> std::result::Result<(usize, Option<usize>), String> {
            let (a, b) = v
                .split_once("..")
                .ok_or_else(|| format!("'{v}' is not a range like 0..4 or 4.."))?;
            let a = a
                .trim()
                .parse()
                .map_err(|_| format!("bad range start in '{v}'"))?;
            let b = match b.trim() {
                "" => None,
                b => Some(b.parse().map_err(|_| format!("bad range end in '{v}'"))?),
            };
            match b {
                Some(b) if b <= a => Err(format!("empty range '{v}'")),
                _ => Ok((a, b)),
            }
        };
        let mut layout = DetectionLayout {
            output: None,
            boxes: (0, 0),
            scores: (0, None),
            axis: None,
            format: BoxFormat::Cxcywh,
            threshold: 0.25,
            iou: 0.5,
        };
        let (mut boxes, mut scores) = (false, false);
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once(':')
                .ok_or_else(|| format!("'{item}' is not key:value"))?;
            let number = |v: &str| -> std::result::Result<f32, String> {
                match v.parse::<f32>() {
                    Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
                    _ => Err(format!("{key} takes a number between 0 and 1, got '{v}'")),
                }
            };
            match key.trim() {
                "boxes" => {
                    let (a, b) = range(value)?;
                    if b != Some(a + 4) {
                        return Err(format!("boxes are 4 channels (like 0..4), got '{value}'"));
                    }
                    layout.boxes = (a, a + 4);
                    boxes = true;
                }
                "scores" => {
                    layout.scores = range(value)?;
                    scores = true;
                }
                "axis" => {
                    layout.axis = Some(value.parse().map_err(|_| format!("bad axis '{value}'"))?)
                }
                "format" => {
                    layout.format = match value {
                        "cxcywh" => BoxFormat::Cxcywh,
                        "xyxy" => BoxFormat::Xyxy,
                        _ => return Err(format!("format is cxcywh or xyxy, got '{value}'")),
                    }
                }
                "threshold" => layout.threshold = number(value)?,
                "iou" => layout.iou = number(value)?,
                "output" => layout.output = Some(value.to_string()),
                k => {
                    return Err(format!(
                        "unknown key '{k}' (boxes, scores, axis, format, threshold, iou, output)"
                    ))
                }
            }
        }
        if !boxes || !scores {
            return Err(
                "a detection layout names both boxes and scores, like boxes:0..4,scores:4..".into(),
            );
        }
        Ok(layout)
    }
}

impl std::fmt::Display for DetectionLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "boxes:{}..{},scores:{}..",
            self.boxes.0, self.boxes.1, self.scores.0
        )?;
        if let Some(e) = self.scores.1 {
            write!(f, "{e}")?;
        }
        if let Some(a) = self.axis {
            write!(f, ",axis:{a}")?;
        }
        let format = match self.format {
            BoxFormat::Cxcywh => "cxcywh",
            BoxFormat::Xyxy => "xyxy",
        };
        write!(
            f,
            ",format:{format},threshold:{},iou:{}",
            self.threshold, self.iou
        )?;
        if let Some(o) = &self.output {
            write!(f, ",output:{o}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for DetectionLayout {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<DetectionLayout> for String {
    fn from(l: DetectionLayout) -> String {
        l.to_string()
    }
}

/// Detections matched between the candidate and float32, summed over samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionCounts {
    /// Float32's detections.
    pub reference: u64,
    /// The candidate's detections.
    pub candidate: u64,
    /// Candidate detections that match one of float32's.
    pub matched: u64,
}

impl DetectionCounts {
    /// F1 of the candidate's detections against float32's; `None` when neither detected
    /// anything (nothing to judge by).
    pub fn f1(&self) -> Option<f64> {
        let total = self.reference + self.candidate;
        (total > 0).then(|| 2.0 * self.matched as f64 / total as f64)
    }
}

/// One detection: class, score and corners `[x0, y0, x1, y1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Det {
    class: usize,
    score: f32,
    corners: [f32; 4],
}

/// Candidates kept per image before suppression: suppression is quadratic in them, and a
/// detector above its threshold has far fewer.
const MAX_CANDIDATES: usize = 1000;

/// Sums detection counts over samples.
#[derive(Debug, Clone)]
pub struct DetectionAccumulator {
    layout: DetectionLayout,
    counts: DetectionCounts,
    samples: usize,
}

impl DetectionAccumulator {
    /// An empty accumulator for `layout`.
    pub fn new(layout: DetectionLayout) -> Self {
        DetectionAccumulator {
            layout,
            counts: DetectionCounts::default(),
            samples: 0,
        }
    }

    /// Adds one sample: float32's outputs and the candidate's.
    pub fn add(
        &mut self,
        reference: &[(String, Tensor)],
        candidate: &[(String, Tensor)],
    ) -> Result<()> {
        let (name, r) = self.pick(reference)?;
        let c = candidate
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::Eval(format!("the candidate has no output '{name}'")))?;
        let (ref_dets, cand_dets) = (self.detections(r)?, self.detections(c)?);
        for (rd, cd) in ref_dets.iter().zip(&cand_dets) {
            self.counts.reference += rd.len() as u64;
            self.counts.candidate += cd.len() as u64;
            self.counts.matched += matched(rd, cd, self.layout.iou);
        }
        self.samples += 1;
        Ok(())
    }

    /// The counts so far.
    pub fn counts(&self) -> DetectionCounts {
        self.counts
    }

    /// Samples added.
    pub fn samples(&self) -> usize {
        self.samples
    }

    fn pick<'a>(&self, outputs: &'a [(String, Tensor)]) -> Result<(String, &'a Tensor)> {
        let found = match &self.layout.output {
            Some(n) => outputs.iter().find(|(o, _)| o == n),
            None => outputs
                .iter()
                .find(|(_, t)| t.dtype().is_float() && matches!(t.shape().len(), 2 | 3)),
        };
        found.map(|(n, t)| (n.clone(), t)).ok_or_else(|| {
            Error::Eval(format!(
                "no output fits the detection layout {} (outputs: {})",
                self.layout,
                outputs
                    .iter()
                    .map(|(n, t)| format!("{n} {:?}", t.shape()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// The channel axis of `shape` (rank 2 `[anchors, channels]`-like or rank 3 with a batch).
    fn axis(&self, shape: &[usize]) -> Result<usize> {
        let need = self
            .layout
            .scores
            .1
            .unwrap_or(self.layout.scores.0 + 1)
            .max(self.layout.boxes.1);
        let first = shape.len() - 2;
        let axis = match self.layout.axis {
            Some(a) if a >= first && a < shape.len() => a,
            Some(a) => {
                return Err(Error::Eval(format!(
                    "detection axis {a} is not one of the last two axes of {shape:?}"
                )))
            }
            None => {
                let fits = |a: usize| shape[a] >= need;
                match (fits(first), fits(first + 1)) {
                    (true, true) if shape[first] <= shape[first + 1] => first,
                    (true, true) => first + 1,
                    (true, false) => first,
                    (false, true) => first + 1,
                    (false, false) => {
                        return Err(Error::Eval(format!(
                        "output {shape:?} has no axis of the {need} channels the layout {} names",
                        self.layout
                    )))
                    }
                }
            }
        };
        if shape[axis] < need {
            return Err(Error::Eval(format!(
                "axis {axis} of {shape:?} holds {} channels; the layout {} names {need}",
                shape[axis], self.layout
            )));
        }
        Ok(axis)
    }

    /// Detections per batch row, after per-class suppression.
    fn detections(&self, t: &Tensor) -> Result<Vec<Vec<Det>>> {
        let shape = t.shape().to_vec();
        if !matches!(shape.len(), 2 | 3) {
            return Err(Error::Eval(format!(
                "a detection output is [batch, channels, anchors] or [batch, anchors, channels], got {shape:?}"
            )));
        }
        let axis = self.axis(&shape)?;
        let values = t.to_f64_lossy();
        let batch = if shape.len() == 3 { shape[0] } else { 1 };
        let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let channels_first = axis == shape.len() - 2;
        let (channels, anchors) = if channels_first {
            (rows, cols)
        } else {
            (cols, rows)
        };
        let score_end = self.layout.scores.1.unwrap_or(channels).min(channels);
        let mut out = Vec::with_capacity(batch);
        for b in 0..batch {
            let base = b * rows * cols;
            let at = |c: usize, a: usize| -> f32 {
                let i = if channels_first {
                    c * cols + a
                } else {
                    a * cols + c
                };
                values[base + i] as f32
            };
            let mut dets = Vec::new();
            for a in 0..anchors {
                let mut best = (0usize, f32::NEG_INFINITY);
                for c in self.layout.scores.0..score_end {
                    let s = at(c, a);
                    if s > best.1 {
                        best = (c - self.layout.scores.0, s);
                    }
                }
                // NaN scores never become the best, so a NaN anchor stays below.
                if best.1 < self.layout.threshold {
                    continue;
                }
                let v: [f32; 4] = std::array::from_fn(|k| at(self.layout.boxes.0 + k, a));
                let corners = match self.layout.format {
                    BoxFormat::Cxcywh => [
                        v[0] - v[2] / 2.0,
                        v[1] - v[3] / 2.0,
                        v[0] + v[2] / 2.0,
                        v[1] + v[3] / 2.0,
                    ],
                    BoxFormat::Xyxy => v,
                };
                dets.push(Det {
                    class: best.0,
                    score: best.1,
                    corners,
                });
            }
            // Highest score first; ties by position, so the same outputs give the same detections.
            dets.sort_by(|a, b| b.score.total_cmp(&a.score));
            dets.truncate(MAX_CANDIDATES);
            out.push(suppress(dets, self.layout.iou));
        }
        Ok(out)
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Greedy per-class non-maximum suppression of score-sorted detections.
fn suppress(sorted: Vec<Det>, threshold: f32) -> Vec<Det> {
    let mut kept: Vec<Det> = Vec::new();
    for d in sorted {
        if kept
            .iter()
            .all(|k| k.class != d.class || iou(&k.corners, &d.corners) < threshold)
        {
            kept.push(d);
        }
    }
    kept
}

/// Candidate detections (score-sorted) matched greedily to float32's of the same class.
fn matched(reference: &[Det], candidate: &[Det], threshold: f32) -> u64 {
    let mut taken = vec![false; reference.len()];
    let mut n = 0;
    for c in candidate {
        let best = reference
            .iter()
            .enumerate()
            .filter(|(i, r)| !taken[*i] && r.class == c.class)
            .map(|(i, r)| (i, iou(&r.corners, &c.corners)))
            .filter(|(_, v)| *v >= threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = best {
            taken[i] = true;
            n += 1;
        }
    }
    n
}

/// The user's evaluation command: run with the model's path, it prints one number as the last
/// word of its last line of output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricCommand {
    /// Program and arguments; `{model}` is replaced by the model's path, which is appended when
    /// no argument holds `{model}`. The path is also in the environment as `OPTIMIZE_MODEL`.
    pub argv: Vec<String>,
    /// Whether larger values are better (accuracy: yes; error rate: no).
    #[serde(default = "yes")]
    pub higher_is_better: bool,
    /// Longest one evaluation may take (default 10 minutes); past it the command is killed.
    #[serde(default = "ten_minutes", with = "humantime_serde")]
    pub timeout: Duration,
}

fn yes() -> bool {
    true
}

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

/// The tail of a failing command's stderr kept in the error.
const STDERR_TAIL: usize = 2000;

impl MetricCommand {
    /// A command from a shell-like line (`python eval.py --split val {model}`), split by shell
    /// quoting rules.
    pub fn parse(line: &str, higher_is_better: bool) -> Result<Self> {
        let argv = shell_words::split(line)
            .map_err(|e| Error::InvalidConfig(format!("metric command {line:?}: {e}")))?;
        if argv.is_empty() {
            return Err(Error::InvalidConfig("the metric command is empty".into()));
        }
        Ok(MetricCommand {
            argv,
            higher_is_better,
            timeout: ten_minutes(),
        })
    }

    /// How reports name it.
    pub fn describe(&self) -> String {
        format!(
            "metric command `{}` ({} is better)",
            shell_words::join(&self.argv),
            if self.higher_is_better {
                "higher"
            } else {
                "lower"
            }
        )
    }

    /// Runs the command on the model at `model` and reads its number. Errors carry the exit
    /// status and the end of its stderr.
    pub fn measure(&self, model: &Path) -> Result<f64> {
        let path = model.display().to_string();
        let mut argv: Vec<String> = self
            .argv
            .iter()
            .map(|a| a.replace("{model}", &path))
            .collect();
        if !self.argv.iter().any(|a| a.contains("{model}")) {
            argv.push(path.clone());
        }
        let fail = |what: String| Error::Eval(format!("{}: {what}", self.describe()));
        let mut child = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .env("OPTIMIZE_MODEL", &path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("could not start '{}': {e}", argv[0])))?;
        // Both pipes drain on their own threads, so a chatty command cannot block on a full pipe.
        let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(mut r) = r {
                    let mut bytes = Vec::new();
                    let _ = r.read_to_end(&mut bytes);
                    s = String::from_utf8_lossy(&bytes).into_owned();
                }
                s
            })
        };
        let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
        let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "killed after {:.0} s without an answer",
                        self.timeout.as_secs_f64()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(fail(format!("waiting for it: {e}"))),
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        let tail = || {
            let s = stderr.trim();
            let start = s.len().saturating_sub(STDERR_TAIL);
            let start = (start..=s.len())
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(0);
            if s.is_empty() {
                "(no stderr)".to_string()
            } else {
                format!("stderr: {}", &s[start..])
            }
        };
        if !status.success() {
            return Err(fail(format!("exited with {status}; {}", tail())));
        }
        let line = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let word = line.split_whitespace().last().unwrap_or("");
        match word.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(fail(format!(
                "its last line of output should end with one number, got {line:?}; {}",
                tail()
            ))),
        }
    }

    /// [`MetricCommand::measure`] on a model held in memory, written to a temporary file first.
    pub fn measure_bytes(&self, bytes: &[u8]) -> Result<f64> {
        let dir =
            tempfile::tempdir().map_err(|e| Error::Eval(format!("a temporary folder: {e}")))?;
        let path = dir.path().join("candidate.onnx");
        std::fs::write(&path, bytes).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        self.measure(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(rows: &[[f32; 6]]) -> Tensor {
        // [1, 6, N]: cx, cy, w, h, score of class 0, score of class 1.
        let n = rows.len();
        let mut v = vec![0.0; 6 * n];
        for (a, r) in rows.iter().enumerate() {
            for c in 0..6 {
                v[c * n + a] = r[c];
            }
        }
        Tensor::from_f32(vec![1, 6, n], v).unwrap()
    }

    fn f1(layout: &str, r: &Tensor, c: &Tensor) -> DetectionCounts {
        let mut acc = DetectionAccumulator::new(layout.parse().unwrap());
        acc.add(&[("y".into(), r.clone())], &[("y".into(), c.clone())])
            .unwrap();
        acc.counts()
    }

    #[test]
    fn layouts_parse_and_print() {
        let l: DetectionLayout = "boxes:0..4, scores:4..84, axis:1, format:xyxy, output:out0"
            .parse()
            .unwrap();
        assert_eq!(
            (l.scores, l.axis, l.format),
            ((4, Some(84)), Some(1), BoxFormat::Xyxy)
        );
        assert_eq!(l.to_string().parse::<DetectionLayout>().unwrap(), l);
        for bad in [
            "boxes:0..3,scores:4..",
            "scores:4..",
            "boxes:0..4,scores:4..,iou:2",
            "boxes:0..4,scores:x..",
        ] {
            assert!(bad.parse::<DetectionLayout>().is_err(), "{bad}");
        }
        let e = "boxes:0..4,scores:4..,colour:red"
            .parse::<DetectionLayout>()
            .unwrap_err();
        assert!(e.contains("unknown key 'colour'"), "{e}");
    }

    #[test]
    fn identical_detections_score_one_and_lost_ones_count() {
        let r = head(&[
            [50.0, 50.0, 20.0, 20.0, 0.9, 0.1],
            [150.0, 50.0, 20.0, 20.0, 0.1, 0.8],
            [52.0, 51.0, 20.0, 20.0, 0.7, 0.1], // suppressed by the first
            [300.0, 300.0, 10.0, 10.0, 0.1, 0.1], // below the threshold
        ]);
        let same = f1("boxes:0..4,scores:4..", &r, &r);
        assert_eq!(
            same,
            DetectionCounts {
                reference: 2,
                candidate: 2,
                matched: 2
            }
        );
        assert_eq!(same.f1(), Some(1.0));
        // The class scores of the second box fall below the threshold while every box
        // coordinate stays: raw cosine barely moves, F1 drops to 2/3.
        let c = head(&[
            [50.0, 50.0, 20.0, 20.0, 0.9, 0.1],
            [150.0, 50.0, 20.0, 20.0, 0.1, 0.2],
            [52.0, 51.0, 20.0, 20.0, 0.7, 0.1],
            [300.0, 300.0, 10.0, 10.0, 0.1, 0.1],
        ]);
        let counts = f1("boxes:0..4,scores:4..", &r, &c);
        assert_eq!(
            counts,
            DetectionCounts {
                reference: 2,
                candidate: 1,
                matched: 1
            }
        );
        assert!((counts.f1().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // A box that moved off its object matches nothing; a class swap matches nothing.
        let moved = head(&[
            [80.0, 50.0, 20.0, 20.0, 0.9, 0.1],
            [150.0, 50.0, 20.0, 20.0, 0.8, 0.1],
            [52.0, 51.0, 20.0, 20.0, 0.1, 0.1],
            [300.0, 300.0, 10.0, 10.0, 0.1, 0.1],
        ]);
        assert_eq!(f1("boxes:0..4,scores:4..", &r, &moved).matched, 0);
    }

    #[test]
    fn the_channel_axis_is_inferred_or_given() {
        // [1, N, 6] (anchors first) gives the same detections as [1, 6, N].
        let r = head(&[
            [50.0, 50.0, 20.0, 20.0, 0.9, 0.1],
            [150.0, 50.0, 20.0, 20.0, 0.1, 0.8],
        ]);
        let v = r.to_vec::<f32>().unwrap();
        let mut t = vec![0.0; v.len()];
        for c in 0..6 {
            for a in 0..2 {
                t[a * 6 + c] = v[c * 2 + a];
            }
        }
        let rt = Tensor::from_f32(vec![1, 2, 6], t).unwrap();
        // Two anchors and six channels: both axes hold 6 channels only on axis 2.
        assert_eq!(f1("boxes:0..4,scores:4..6", &rt, &rt).reference, 2);
        assert_eq!(f1("boxes:0..4,scores:4..6,axis:1", &r, &r).reference, 2);
        let mut acc = DetectionAccumulator::new("boxes:0..4,scores:4..9".parse().unwrap());
        let e = acc
            .add(&[("y".into(), r.clone())], &[("y".into(), r.clone())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no axis of the 9 channels"), "{e}");
    }

    #[test]
    fn nothing_detected_has_no_f1() {
        assert_eq!(DetectionCounts::default().f1(), None);
    }

    #[cfg(unix)]
    #[test]
    fn metric_commands_read_the_last_number_and_keep_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"x").unwrap();
        let c =
            MetricCommand::parse("sh -c 'echo loading; echo \"accuracy 0.875\"' --", true).unwrap();
        assert_eq!(c.measure(&model).unwrap(), 0.875);
        // {model} is replaced by the path.
        let c =
            MetricCommand::parse("sh -c 'test -f \"$1\" && echo 1.5' -- {model}", false).unwrap();
        assert_eq!(c.measure(&model).unwrap(), 1.5);
        let c = MetricCommand::parse("sh -c 'echo boom >&2; exit 3' --", true).unwrap();
        let e = c.measure(&model).unwrap_err().to_string();
        assert!(e.contains("exit status: 3") && e.contains("boom"), "{e}");
        let c = MetricCommand::parse("sh -c 'echo done' --", true).unwrap();
        let e = c.measure(&model).unwrap_err().to_string();
        assert!(e.contains("one number") && e.contains("done"), "{e}");
        let mut c = MetricCommand::parse("sh -c 'sleep 5' --", true).unwrap();
        c.timeout = Duration::from_millis(200);
        let e = c.measure(&model).unwrap_err().to_string();
        assert!(e.contains("killed after"), "{e}");
        assert!(MetricCommand::parse("python 'eval.py", true).is_err());
    }

    #[test]
    fn task_metrics_deserialize_from_toml() {
        #[derive(Deserialize)]
        struct C {
            task: TaskMetric,
        }
        let c: C = toml::from_str("task = { detection = \"boxes:0..4,scores:4..\" }").unwrap();
        assert!(matches!(c.task, TaskMetric::Detection(_)));
        let c: C = toml::from_str(
            "task = { command = { argv = [\"python\", \"eval.py\"], higher_is_better = false } }",
        )
        .unwrap();
        assert!(!c.task.higher_is_better());
        assert!(toml::from_str::<C>("task = { detection = \"boxes:0..4\" }").is_err());
    }
}
