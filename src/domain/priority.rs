//! A task's priority: none, low, medium or high (VTODO's PRIORITY 0, 9, 5, 1).

/// How important a task is; stored as its level, so that ascending is none to high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl Priority {
    /// Every priority, from none to high.
    pub const ALL: [Priority; 4] = [Self::None, Self::Low, Self::Medium, Self::High];

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|priority| priority.name() == raw)
            .ok_or_else(|| {
                format!(
                    "must be one of none, low, medium, high; got {:?}",
                    super::echo(raw)
                )
            })
    }

    /// The stored level: 0 none, 1 low, 2 medium, 3 high.
    pub fn level(self) -> i16 {
        self as i16
    }

    /// The priority of a stored level; an unknown level (written by a later release) is none.
    pub fn of_level(level: i16) -> Self {
        Self::ALL
            .into_iter()
            .find(|priority| priority.level() == level)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_parse_by_name_and_store_by_level() {
        for priority in Priority::ALL {
            assert_eq!(Priority::parse(priority.name()).unwrap(), priority);
            assert_eq!(Priority::of_level(priority.level()), priority);
        }
        assert_eq!(Priority::High.level(), 3);
        assert!(Priority::parse("urgent").is_err());
        assert!(Priority::parse("High").is_err());
    }
}
