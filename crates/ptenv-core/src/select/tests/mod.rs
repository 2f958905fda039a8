//! `select`'s unit tests, by decision: the scenario tables of images chosen per GPU and driver
//! (`table`), the driver, CUDA and GPU-request decisions and their warnings (`requests`), and
//! the sentences: reasons, pins and every failure as the user reads it (`reasons`). The GPU and
//! host fixtures are `crate::testing`'s.

use super::*;
use crate::testing::{has, host, want, Want, RTX_5090};

mod reasons;
mod requests;
mod table;

fn pick(w: Want, facts: HostFacts) -> Choice {
    choose(&w.profile(), &facts).unwrap()
}
