//! The vocabulary generated calendars draw from: subjects (Unicode and emoji included),
//! places, outside contacts and categories.

/// Subjects of ordinary meetings, with the text their body preview starts with.
pub(crate) const MEETINGS: &[(&str, &str)] = &[
    ("Sprint planning 🚀", "Agenda: velocity, carry-over, goals for the next two weeks."),
    ("Design review — calendar sync", "Walk through the sync design and open questions."),
    ("Customer call: Contoso", "Contoso wants an update on the rollout timeline."),
    ("Budget review Q3", "Please bring your forecast numbers."),
    ("Café with Zoë ☕", "Catch-up at the usual place."),
    ("Überprüfung der Architektur", "Architekturentscheidungen und offene Punkte."),
    ("日本チームとの同期", "週次の進捗確認です。"),
    ("Retro 🔁", "What went well, what didn't, what we try next."),
    ("Interview: senior engineer", "Loop interview, coding and system design."),
    ("Lunch & learn: Rust async 🦀", "Bring your lunch; we bring the futures."),
    ("Vendor demo — Fabrikam", "Fabrikam shows the new reporting module."),
    ("Hiring sync", "Pipeline review and next steps."),
    ("Quarterly business review 📊", "Numbers, risks and asks for the quarter."),
    ("Roadmap brainstorm", "Bring ideas, sticky notes provided."),
    ("Security review: token handling 🔐", "Review of secret storage and token refresh."),
    ("Office hours", "Drop in with any question."),
    ("Ελληνικά: συνάντηση ομάδας", "Εβδομαδιαία ενημέρωση."),
    ("Incident post-mortem", "Timeline, root cause, follow-ups."),
    ("Planning poker 🃏", "Estimate the backlog items marked ready."),
    ("Onboarding: new joiners 👋", "Welcome session for this month's joiners."),
    ("Focus time", "Do not book."),
    ("Dentist 🦷", "Personal appointment."),
];

/// All-day and multi-day subjects, with their `showAs`.
pub(crate) const ALL_DAY: &[(&str, &str)] = &[
    ("Company holiday 🎉", "free"),
    ("Vacation 🏖️", "oof"),
    ("Conference: RustConf", "workingElsewhere"),
    ("Training day", "busy"),
    ("Working from Zürich", "workingElsewhere"),
    ("Birthday: Zoë 🎂", "free"),
];

/// Timed multi-day subjects.
pub(crate) const MULTI_DAY: &[&str] = &["Team offsite ⛰️", "Hackathon 💡", "Trip to Tokyo ✈️"];

/// Meeting places: display name and Graph `locationType`.
pub(crate) const PLACES: &[(&str, &str)] = &[
    ("Microsoft Teams Meeting", "default"),
    ("Conference Room Adams", "conferenceRoom"),
    ("Conference Room Baker", "conferenceRoom"),
    ("Café Ümlaut, Hauptstraße 5", "businessAddress"),
    ("Building 4 / 2.17", "default"),
    ("", "default"),
];

/// People outside the tenant: display name and address.
pub(crate) const EXTERNALS: &[(&str, &str)] = &[
    ("Zoë Ölund", "zoe.olund@fabrikam.test"),
    ("Renée Müller", "renee.mueller@contoso.test"),
    ("Kenji Tanaka", "kenji.tanaka@contoso.test"),
    ("Søren Kierkegaard", "soren@northwind.test"),
    ("Priya Raman", "priya.raman@fabrikam.test"),
];

/// Outlook category names.
pub(crate) const CATEGORIES: &[&str] =
    &["Blue category", "Green category", "Orange category", "Red category"];

/// Attendee responses (Graph `responseType`) for invitations the user did not organise.
pub(crate) const RESPONSES: &[&str] =
    &["accepted", "accepted", "tentativelyAccepted", "none", "declined", "notResponded"];
