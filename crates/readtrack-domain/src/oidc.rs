//! Who an OpenID Connect sign-in is: matching the identity provider's answer to a member.
//!
//! A subject (issuer + `sub`) linked before decides alone, so a later change of email at
//! the provider still finds the same person. Otherwise an email the provider says it
//! verified may find an existing, active member, whose subject is then linked. People
//! unknown here are never created by a sign-in: an admin adds them.

use crate::ids::MemberId;

/// A member a sign-in could be, as storage found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The member.
    pub member: MemberId,
    /// Deactivated members may not sign in.
    pub active: bool,
}

/// What a sign-in through the identity provider comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMatch {
    /// The subject was linked to this member before.
    Linked(MemberId),
    /// The verified email is this member's: link the subject, then sign in.
    LinkByEmail(MemberId),
    /// The person is a member here, but deactivated.
    Deactivated,
    /// Nobody here is this person (or the email is not verified).
    Unknown,
}

/// Matches a sign-in: `by_subject` is the member the subject was linked to, `by_email`
/// the member with the ID token's email, `email_verified` its `email_verified` claim.
pub fn match_sign_in(
    by_subject: Option<Candidate>,
    by_email: Option<Candidate>,
    email_verified: bool,
) -> SignInMatch {
    match (by_subject, by_email) {
        (Some(c), _) if c.active => SignInMatch::Linked(c.member),
        (Some(_), _) => SignInMatch::Deactivated,
        // An unverified email proves nothing about who signed in.
        (None, Some(_)) if !email_verified => SignInMatch::Unknown,
        (None, Some(c)) if c.active => SignInMatch::LinkByEmail(c.member),
        (None, Some(_)) => SignInMatch::Deactivated,
        (None, None) => SignInMatch::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(id: i64) -> Option<Candidate> {
        Some(Candidate {
            member: MemberId(id),
            active: true,
        })
    }

    fn inactive(id: i64) -> Option<Candidate> {
        Some(Candidate {
            member: MemberId(id),
            active: false,
        })
    }

    #[test]
    fn a_linked_subject_wins_over_whatever_the_email_now_says() {
        assert_eq!(
            match_sign_in(active(1), active(2), true),
            SignInMatch::Linked(MemberId(1))
        );
        assert_eq!(
            match_sign_in(active(1), None, false),
            SignInMatch::Linked(MemberId(1))
        );
        assert_eq!(
            match_sign_in(inactive(1), active(2), true),
            SignInMatch::Deactivated
        );
    }

    #[test]
    fn only_a_verified_email_of_an_active_member_links_a_new_subject() {
        assert_eq!(
            match_sign_in(None, active(2), true),
            SignInMatch::LinkByEmail(MemberId(2))
        );
        assert_eq!(match_sign_in(None, active(2), false), SignInMatch::Unknown);
        assert_eq!(
            match_sign_in(None, inactive(2), true),
            SignInMatch::Deactivated
        );
        assert_eq!(match_sign_in(None, None, true), SignInMatch::Unknown);
    }
}
