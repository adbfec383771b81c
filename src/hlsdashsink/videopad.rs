// SPDX-License-Identifier: MPL-2.0
//! `HlsDashSinkVideoPad`: the request pads `video_%u`, one rendition of an ABR ladder each,
//! with the rendition's bit rates as pad properties (set from a launch line as
//! `sink.video_1::bandwidth=800000`).

use gst::glib;

glib::wrapper! {
    /// A rendition pad of `hlsdashsink` (`video_%u`).
    pub struct HlsDashSinkVideoPad(ObjectSubclass<imp::VideoPad>) @extends gst::GhostPad, gst::ProxyPad, gst::Pad, gst::Object;
}

impl HlsDashSinkVideoPad {
    /// (peak, average) bit rates set on the pad; 0 = from upstream's tags.
    pub(super) fn bit_rates(&self) -> (u32, u32) {
        use gst::subclass::prelude::*;
        let rates = crate::glue::lock(&self.imp().rates);
        (rates.bandwidth, rates.average_bandwidth)
    }
}

mod imp {
    use std::sync::{LazyLock, Mutex};

    use gst::glib;
    use gst::prelude::*;
    use gst::subclass::prelude::*;

    use crate::glue::lock;

    #[derive(Debug, Default, Clone, Copy)]
    pub struct Rates {
        pub bandwidth: u32,
        pub average_bandwidth: u32,
    }

    #[derive(Debug, Default)]
    pub struct VideoPad {
        pub(in super::super) rates: Mutex<Rates>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for VideoPad {
        const NAME: &'static str = "GstHlsDashSinkVideoPad";
        type Type = super::HlsDashSinkVideoPad;
        type ParentType = gst::GhostPad;
    }

    impl ObjectImpl for VideoPad {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
                vec![
                    glib::ParamSpecUInt::builder("bandwidth")
                        .nick("Bandwidth")
                        .blurb("Peak bit rate in bit/s of this rendition, for its HLS BANDWIDTH and DASH @bandwidth (the same on every redundant packager); 0 = from upstream's maximum-bitrate / nominal-bitrate / bitrate tag")
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecUInt::builder("average-bandwidth")
                        .nick("Average bandwidth")
                        .blurb("Average bit rate in bit/s of this rendition, for its HLS AVERAGE-BANDWIDTH; 0 = from upstream's nominal-bitrate tag (not written without one)")
                        .mutable_ready()
                        .build(),
                ]
            });
            PROPERTIES.as_ref()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            let mut rates = lock(&self.rates);
            let rate = value.get::<u32>().unwrap_or(0);
            match pspec.name() {
                "bandwidth" => rates.bandwidth = rate,
                "average-bandwidth" => rates.average_bandwidth = rate,
                _ => unreachable!("no other pad property is installed"),
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            let rates = lock(&self.rates);
            match pspec.name() {
                "bandwidth" => rates.bandwidth.to_value(),
                "average-bandwidth" => rates.average_bandwidth.to_value(),
                _ => unreachable!("no other pad property is installed"),
            }
        }
    }

    impl GstObjectImpl for VideoPad {}
    impl PadImpl for VideoPad {}
    impl ProxyPadImpl for VideoPad {}
    impl GhostPadImpl for VideoPad {}
}
