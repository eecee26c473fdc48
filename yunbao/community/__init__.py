"""Community participation (社工法 · 共建共治): volunteer activities, sign-ups, check-ins,
reporters' points and the measures of whether activities turn residents into reporters."""
