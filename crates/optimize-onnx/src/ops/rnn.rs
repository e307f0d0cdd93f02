//! Recurrent layers: RNN, GRU, LSTM.
//!
//! Their weights are three stacked inputs (`W`, `R`, `B`) laid out per direction and gate, so
//! no pass treats them as a layer of channels; they may run in float16, where every float slot
//! is `T` (`sequence_lens` is int32 and stays so).

use super::OpInfo;
use super::Slots::Float as F;

/// The rows of this family.
pub(super) const OPS: &[OpInfo] = &[
    OpInfo::op("GRU").fp16(7, F, F),
    OpInfo::op("LSTM").fp16(7, F, F),
    OpInfo::op("RNN").fp16(7, F, F),
];
