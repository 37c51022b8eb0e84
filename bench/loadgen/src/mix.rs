//! The mix of requests: which of api_01's scenarios each request is, spread
//! evenly by weight (no randomness: 80/10/10 is 8, 1 and 1 in every ten).
//! The compose load profile's `traffic` sends it, and `loadgen --mix`.

use anyhow::{Context, bail};

/// A scenario of api_01's page, as the query string that asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    Fail,
    Slow,
}

/// Which callee the next failing or slow request names: api_02 and api_03
/// in turn.
const CALLEES: [&str; 2] = ["api_02", "api_03"];

/// The weights of each kind, and where the spread has got to.
#[derive(Clone, Debug)]
pub struct Mix {
    weights: Vec<(Kind, u32)>,
    /// Smooth weighted round robin: each kind's credit so far.
    credit: Vec<i64>,
    turns: [usize; 3],
    slow_ms: u64,
}

impl Mix {
    /// Reads `plain=80,fail=10,slow=10` (any order, any subset; a weight
    /// is a whole number, and their sum must be above 0).
    pub fn parse(text: &str, slow_ms: u64) -> anyhow::Result<Self> {
        let mut weights = Vec::new();
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (name, weight) = part
                .split_once('=')
                .with_context(|| format!("{part:?} is not name=weight"))?;
            let kind = match name.trim() {
                "plain" => Kind::Plain,
                "fail" => Kind::Fail,
                "slow" => Kind::Slow,
                other => bail!("{other:?} is not a scenario: plain, fail or slow"),
            };
            if weights.iter().any(|(seen, _)| *seen == kind) {
                bail!("{name} is given twice");
            }
            let weight: u32 = weight
                .trim()
                .parse()
                .with_context(|| format!("the weight of {name}: {weight:?}"))?;
            weights.push((kind, weight));
        }
        if weights
            .iter()
            .map(|(_, weight)| u64::from(*weight))
            .sum::<u64>()
            == 0
        {
            bail!("no scenario has a weight above 0");
        }
        Ok(Self {
            credit: vec![0; weights.len()],
            weights,
            turns: [0; 3],
            slow_ms,
        })
    }

    /// The next request's query string ("" for a plain one).
    pub fn next_query(&mut self) -> String {
        let total: i64 = self.weights.iter().map(|(_, w)| i64::from(*w)).sum();
        for (credit, (_, weight)) in self.credit.iter_mut().zip(&self.weights) {
            *credit += i64::from(*weight);
        }
        let (chosen, _) = self
            .credit
            .iter()
            .enumerate()
            .max_by_key(|(index, credit)| (**credit, std::cmp::Reverse(*index)))
            .expect("at least one scenario");
        self.credit[chosen] -= total;
        let kind = self.weights[chosen].0;
        let turn = &mut self.turns[kind as usize];
        let callee = CALLEES[*turn % CALLEES.len()];
        *turn += 1;
        match kind {
            Kind::Plain => String::new(),
            Kind::Fail => format!("fail={callee}"),
            Kind::Slow => format!("slow={callee}&delay_ms={}", self.slow_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queries(mix: &str, count: usize) -> Vec<String> {
        let mut mix = Mix::parse(mix, 300).unwrap();
        (0..count).map(|_| mix.next_query()).collect()
    }

    #[test]
    fn each_kind_gets_its_share_spread_out() {
        let ten = queries("plain=80,fail=10,slow=10", 10);
        let count = |prefix: &str| ten.iter().filter(|q| q.starts_with(prefix)).count();
        assert_eq!(
            (
                ten.iter().filter(|q| q.is_empty()).count(),
                count("fail="),
                count("slow=")
            ),
            (8, 1, 1)
        );
        // No two failures in a row.
        let twenty = queries("plain=1,fail=1", 20);
        assert!(
            twenty.windows(2).all(|pair| pair[0] != pair[1]),
            "{twenty:?}"
        );
    }

    #[test]
    fn failures_and_delays_take_each_callee_in_turn() {
        assert_eq!(
            queries("fail=1", 3),
            ["fail=api_02", "fail=api_03", "fail=api_02"]
        );
        assert_eq!(
            queries("slow=1", 2),
            ["slow=api_02&delay_ms=300", "slow=api_03&delay_ms=300"]
        );
        assert_eq!(queries("plain=5, slow=0", 2), ["", ""]);
    }

    #[test]
    fn a_bad_mix_says_what_is_wrong() {
        for (mix, says) in [
            ("plain=80,hang=10", "\"hang\" is not a scenario"),
            ("plain", "is not name=weight"),
            ("plain=-1", "the weight of plain"),
            ("plain=0,fail=0", "no scenario has a weight above 0"),
            ("", "no scenario has a weight above 0"),
            ("fail=1,fail=2", "fail is given twice"),
        ] {
            let error = format!("{:#}", Mix::parse(mix, 300).unwrap_err());
            assert!(error.contains(says), "{mix}: {error}");
        }
    }
}
