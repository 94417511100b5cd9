//! What proof of work costs a fan: solves fresh challenges at 16, 20 and 24 bits, as a
//! client would (SHA-256 over "challenge:nonce", nonces 0, 1, 2, ...), on one core, and
//! prints the mean, median and p90 solve time and the hash rate.
//!
//!   pow_cost [challenges per width, default 40]

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

use std::time::Instant;

use boxoffice::domain::pow;

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(40, |n| n.parse().unwrap());
    println!("{:>5} {:>10} {:>10} {:>10} {:>12}", "bits", "mean ms", "p50 ms", "p90 ms", "Mhash/s");
    for bits in [16, 20, 24] {
        let rounds = if bits == 24 { rounds.div_ceil(4) } else { rounds };
        let mut times = Vec::with_capacity(rounds);
        let mut hashes = 0u64;
        let started = Instant::now();
        for _ in 0..rounds {
            let challenge = pow::issue(b"bench", boxoffice::domain::ShowId(1), uuid::Uuid::new_v4(), 0).text;
            let t = Instant::now();
            let nonce = pow::solve(&challenge, bits);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            hashes += nonce.parse::<u64>().unwrap() + 1;
        }
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let rate = hashes as f64 / started.elapsed().as_secs_f64() / 1e6;
        let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!("{bits:>5} {mean:>10.0} {:>10.0} {:>10.0} {rate:>12.2}", p(0.5), p(0.9));
    }
}
