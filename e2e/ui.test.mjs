// The staff web interface in a real headless Chromium, against the real gateway binary on a
// real data directory (the programme fixture "small"), over TLS with the gateway's own
// server certificate. Each role logs in with password and TOTP and replaces its one-time
// password; then the state office accepts a review entry and sees the child's timeline
// change and opens a letter PDF, a health office cannot reach another district's case, and a
// practice reports a check-up through the form. Screenshots of every main page go to
// target/screenshots/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, FIXTURE, Gateway, addUser, registerRows, requireTools, screenshot, totp } from './support.mjs';

const PRACTICE = { id: '1-20781234500', name: 'Kinderarztpraxis Dr. Möller' };

let gw;
let url;
let browser;
let users;
let orgs;
let annaPage;

before(async () => {
  requireTools();
  gw = new Gateway();
  gw.cli('init');
  for (const n of [1, 2, 3]) gw.cli('registry', 'import', join(FIXTURE, `meldedaten_${n}.csv`));
  gw.cli('reports', 'import', join(FIXTURE, 'reports.jsonl'));
  gw.cli('jobs', 'run', '--as-of', '2025-12-31');
  gw.cli('org', 'add', '--kind', 'praxis', '--name', PRACTICE.name, '--telematik-id', PRACTICE.id);
  // the fixture is the past: serve's own daily run (as of today) would erase most of it
  const config = join(gw.data, 'config.toml');
  writeFileSync(config, readFileSync(config, 'utf8').replace('daily_run = true', 'daily_run = false'));

  orgs = gw.json('org', 'list');
  const landesamt = orgs.find((o) => o.kind === 'landesamt');
  const escalations = gw.json('escalations', 'list').filter((e) => e.art === 'escalation');
  const office = orgs.find((o) => o.kind === 'gesundheitsamt' && o.kreise.includes(escalations[0].kreis));
  users = {
    anna: addUser(gw, landesamt.telematik_id, 'landesamt', 'anna'),
    gesa: { ...addUser(gw, office.telematik_id, 'gesundheitsamt', 'gesa'), office },
    paul: addUser(gw, PRACTICE.id, 'praxis', 'paul'),
  };
  url = await gw.serve();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // accept exactly the gateway's server key (its own CA is not in Chromium's store)
    args: [`--ignore-certificate-errors-spki-list=${gw.serverSpki()}`, '--no-sandbox', '--lang=de-DE'],
  });
});

after(async () => {
  await browser?.close();
  gw?.stop();
});

/** A fresh browser context (own cookies) at a laptop's screen size. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'de-DE' });
  const page = await context.newPage();
  // the pages have no script at all: any console error is a defect
  page.on('pageerror', (e) => assert.fail(`page error: ${e}`));
  return page;
}

/** Password, TOTP code, then the forced change of the one-time password. */
async function logIn(page, user, shots) {
  await page.goto(`${url}/anmelden`);
  assert.equal(await page.getAttribute('html', 'lang'), 'de');
  if (shots) await screenshot(page, 'anmelden');
  await page.getByLabel('Benutzername').fill(user.login);
  await page.getByLabel('Passwort').fill(user.password);
  await page.getByRole('button', { name: 'Weiter' }).click();
  await page.waitForURL(`${url}/anmelden/code`);
  if (shots) await screenshot(page, 'anmelden-code');
  await page.getByLabel('Sechsstelliger Code').fill(totp(user.secret));
  await page.getByRole('button', { name: 'Anmelden' }).click();
  // a one-time password opens nothing but the page to replace it
  await page.waitForURL(`${url}/passwort`);
  assert.match(await page.textContent('main'), /einmaliges Startpasswort/);
  if (shots) await screenshot(page, 'passwort-aendern');
  const fresh = `${user.login}-ein-eigenes-Passwort`;
  await page.getByLabel('Bisheriges Passwort').fill(user.password);
  await page.getByLabel('Neues Passwort (mindestens').fill(fresh);
  await page.getByLabel('Neues Passwort wiederholen').fill(fresh);
  await page.getByRole('button', { name: 'Passwort speichern' }).click();
  await page.waitForURL(/\/(\?hinweis=passwort)?$|\/faelle$/);
  user.password = fresh;
}

/** The row of check-up `u` in the child page's table of check-ups. */
async function checkupState(page, u) {
  const row = page.locator('table tbody tr', { has: page.locator('th', { hasText: new RegExp(`^${u}$`) }) });
  return (await row.locator('td').nth(2).textContent()).trim();
}

test('the state office logs in, accepts a review entry and sees the child\'s timeline change', async () => {
  const page = await newPage();
  await logIn(page, users.anna, true);
  await page.goto(`${url}/`);
  assert.match(await page.textContent('h1'), /Kindervorsorge auf einen Blick/);
  await screenshot(page, 'landesamt-start');

  // an entry whose candidate child is in the programme today with that check-up not yet
  // fulfilled: still open if the fixture has one, else escalated (a link then clears it)
  const today = new Date().toISOString().slice(0, 10);
  const picks = [];
  for (const entry of gw.json('review', 'list')) {
    for (const c of entry.candidates) {
      let shown;
      try {
        shown = gw.json('children', 'show', c.melde_id, '--as-of', today);
      } catch {
        continue; // no longer in the register
      }
      const state = shown.checkups?.[entry.untersuchung]?.state;
      if (['not-due', 'reminded', 'escalated'].includes(state)) {
        picks.push({ report: entry.report_id, child: c.melde_id, u: entry.untersuchung, state });
      }
    }
  }
  const pick = picks.find((p) => p.state !== 'escalated') ?? picks[0];
  assert.ok(pick, 'the fixture has a review entry whose check-up is not fulfilled');
  const after = pick.state === 'escalated' ? 'Entwarnung (späte Meldung)' : 'erfüllt';

  await page.getByRole('link', { name: 'Prüfung', exact: true }).click();
  await page.waitForURL(`${url}/pruefung`);
  await screenshot(page, 'pruefung-liste');
  await page.locator(`a[href="/pruefung/${pick.report}"]`).click();
  await page.waitForURL(`${url}/pruefung/${pick.report}`);
  await screenshot(page, 'pruefung-eintrag');

  // the candidate's page before: the report is not on its timeline, the check-up is open
  await page.locator(`a[href="/kinder/${pick.child}"]`).first().click();
  await page.waitForURL(`${url}/kinder/${pick.child}`);
  assert.equal(await page.locator(`ol.timeline a[href="/pruefung/${pick.report}"]`).count(), 0);
  // the page states what the programme (the CLI) says
  const label = { 'not-due': 'noch offen', reminded: 'erinnert', escalated: 'eskaliert' }[pick.state];
  assert.equal(await checkupState(page, pick.u), label);
  assert.match(await page.textContent('main'), /Kandidat in \d+ Meldung/);
  await screenshot(page, 'kind-vorher');

  await page.goBack();
  const card = page.locator('.candidates .card', { has: page.locator(`a[href="/kinder/${pick.child}"]`) });
  await card.getByRole('button', { name: 'Diesem Kind zuordnen' }).click();
  await page.waitForURL(`${url}/pruefung/${pick.report}?hinweis=gespeichert`);
  assert.match(await page.textContent('[role=status]'), /Gespeichert/);
  assert.match(await page.textContent('main'), /von einer Person zugeordnet/);

  // after: the report is on the timeline, attributed to anna, and the check-up is fulfilled
  // (or, after an escalation, cleared)
  await page.locator(`p a[href="/kinder/${pick.child}"]`).click();
  await page.waitForURL(`${url}/kinder/${pick.child}`);
  const entry = page.locator('ol.timeline li', { has: page.locator(`a[href="/pruefung/${pick.report}"]`) });
  assert.equal(await entry.count(), 1);
  assert.match(await entry.textContent(), new RegExp(`${pick.u} am .*zugeordnet von anna`));
  assert.equal(await checkupState(page, pick.u), after);
  await screenshot(page, 'kind-nachher');
  annaPage = page;
});

test('the state office opens a letter PDF from a child\'s timeline', async () => {
  const page = annaPage; // still logged in (a TOTP code works once: no second login)
  assert.ok(page, 'the state office is logged in');
  // the newest letter (older children's letters were erased at the end of retention)
  const letters = gw.json('letters', 'list');
  const letter = letters[letters.length - 1];
  const child = letter.id.split(':')[1];
  await page.goto(`${url}/kinder/${child}`);
  const link = page.locator(`a[href="/briefe/${letter.id}.pdf"]`);
  assert.equal(await link.count(), 1, 'the letter is on the child\'s timeline');
  await screenshot(page, 'kind-mit-brief');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const bytes = readFileSync(await download.path());
  assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
  assert.match(download.suggestedFilename(), /^brief-.*\.pdf$/);
});

test('a health office sees its own cases and cannot open another district\'s, by link or by guessing', async () => {
  const page = await newPage();
  await logIn(page, users.gesa, false);
  await page.waitForURL(`${url}/faelle`);
  await screenshot(page, 'gesundheitsamt-faelle');
  const own = users.gesa.office.kreise;
  const escalations = gw.json('escalations', 'list').filter((e) => e.art === 'escalation');
  const mine = escalations.filter((e) => own.includes(e.kreis));
  const others = escalations.filter((e) => !own.includes(e.kreis));
  assert.ok(mine.length > 0 && others.length > 0);
  assert.equal(await page.locator('a[href^="/faelle/"]').count(), mine.length);

  // every case has a readable link: a name, or "(Daten gelöscht)" for an erased child
  for (const text of await page.locator('a[href^="/faelle/"]').allTextContents()) {
    assert.notEqual(text.trim(), '', 'a case link without text');
  }
  // a case whose child still has its data
  await page.locator('a[href^="/faelle/"]').filter({ hasNotText: 'Daten gelöscht' }).first().click();
  await page.waitForURL(/\/faelle\/[^/]+\/U/);
  assert.match(await page.textContent('main'), /Sorgeberechtigte/);
  await screenshot(page, 'gesundheitsamt-fall');

  // another district's case: by link, and by guessing ids: "not found" both ways, the same
  // page as for a case that does not exist, and nothing of the child in it
  const names = new Map(registerRows().map((r) => [r.melde_id, r]));
  const missing = await page.goto(`${url}/faelle/MV0000000000/U6`);
  assert.equal(missing.status(), 404);
  const notFound = await page.textContent('main');
  for (const other of others.slice(0, 5)) {
    const r = await page.goto(`${url}/faelle/${other.melde_id}/${other.untersuchung}`);
    assert.equal(r.status(), 404);
    const text = await page.textContent('main');
    assert.equal(text, notFound);
    const person = names.get(other.melde_id);
    assert.ok(!text.includes(other.melde_id) && !(person?.familienname && text.includes(person.familienname)));
    for (const u of ['U3', 'U5', 'U7a', 'U9']) {
      assert.equal((await page.goto(`${url}/faelle/${other.melde_id}/${u}`)).status(), 404);
    }
  }
  await screenshot(page, 'gesundheitsamt-fremder-fall');
  // nor the state office's pages of a child
  assert.equal((await page.goto(`${url}/kinder/${others[0].melde_id}`)).status(), 403);
});

test('a practice reports a check-up: an error at its field first, then its receipt and its list', async () => {
  const page = await newPage();
  await logIn(page, users.paul, false);
  await page.goto(`${url}/`);
  await screenshot(page, 'praxis-start');
  await page.getByRole('link', { name: 'Untersuchung melden' }).first().click();
  await page.waitForURL(`${url}/meldung`);

  await page.getByLabel('Vorname (ein Vorname').fill('Jülie');
  await page.getByLabel('Familienname').fill('von der Lühe');
  await page.getByLabel('Geburtsdatum').fill('2025-03-14');
  await page.getByLabel('Krankenversichertennummer').fill('B730152845'); // wrong check digit
  await page.getByLabel('Untersuchung', { exact: true }).selectOption('U4');
  await page.getByLabel('Datum der Untersuchung').fill('2025-06-20');
  await page.getByLabel('Vorname', { exact: true }).fill('Uwe');
  await page.getByLabel('Nachname', { exact: true }).fill('Tessenow');
  await screenshot(page, 'praxis-formular');
  await page.getByRole('button', { name: 'Meldung senden' }).click();

  // not sent: the message sits at the KVNR field, which is marked for screen readers too
  const kvnr = page.getByLabel('Krankenversichertennummer');
  assert.equal(await kvnr.getAttribute('aria-invalid'), 'true');
  const field = page.locator('.field.invalid', { has: page.locator('#kvnr') });
  assert.match(await field.locator('.field-error').textContent(), /Krankenversichertennummer ist ungültig/);
  assert.equal(await page.locator('.field.invalid').count(), 1);
  assert.match(await page.textContent('[role=alert]'), /nicht gesendet/);
  assert.equal(await page.getByLabel('Familienname').inputValue(), 'von der Lühe', 'what was typed stays');
  await screenshot(page, 'praxis-formular-fehler');
  const before = gw.json('reports', 'list', '--sender', PRACTICE.id);
  assert.equal(before.length, 0, 'nothing stored');

  await kvnr.fill('B730152844');
  await page.getByRole('button', { name: 'Meldung senden' }).click();
  await page.waitForURL(/\/meldungen\/[0-9a-f-]+\?eingang=neu$/);
  const id = new URL(page.url()).pathname.split('/').pop();
  assert.match(await page.textContent('h1'), /Eingangsbestätigung/);
  const main = await page.textContent('main');
  assert.match(main, /Jülie von der Lühe/);
  assert.match(main, new RegExp(id));
  await screenshot(page, 'praxis-eingangsbestaetigung');

  // stored as any card of this practice, through the intake, marked as from the form
  const stored = gw.json('reports', 'list', '--sender', PRACTICE.id);
  assert.equal(stored.length, 1);
  assert.equal(stored[0].id, id);
  assert.equal(stored[0].source, 'web-form');
  const receipt = JSON.parse(await page.textContent('details pre'));
  assert.equal(receipt.resourceType, 'Provenance');
  assert.equal(receipt.id, id);

  await page.getByRole('link', { name: 'Meine Meldungen' }).first().click();
  await page.waitForURL(`${url}/meldungen`);
  assert.equal(await page.locator(`a[href="/meldungen/${id}"]`).count(), 1);
  await screenshot(page, 'praxis-meine-meldungen');

  // nothing of other practices or of the programme
  const foreign = gw.json('reports', 'list').find((r) => r.sender !== PRACTICE.id);
  assert.equal((await page.goto(`${url}/meldungen/${foreign.id}`)).status(), 404);
  for (const path of ['/pruefung', '/faelle', `/kinder/${registerRows()[0].melde_id}`]) {
    assert.equal((await page.goto(`${url}${path}`)).status(), 403, path);
  }
});
