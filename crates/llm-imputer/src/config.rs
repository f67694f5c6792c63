//! The settings live in [`llm_config`] (no libtorch, so grids and CLIs can hold them); what
//! only the engine needs, the tch device a [`DeviceChoice`] stands for, is here.

use tch::Device;

pub use llm_config::{
    DepthProbe, DeviceChoice, EndToken, ExampleConfig, FillConfig, HeadConfig, KnownOrder, LlmImputerConfig, Objective,
    RetrievalConfig, RetrievalMode, RetrievalProbe, DEPTH_PROBE_MARGIN, PROBE_MARGIN, PROBE_MIN_CELLS,
};

/// The device a [`DeviceChoice`] stands for on this machine.
pub(crate) fn device_of(choice: DeviceChoice) -> Device {
    match choice.cuda_index(tch::Cuda::is_available()) {
        Some(index) => Device::Cuda(index),
        None => Device::Cpu,
    }
}
