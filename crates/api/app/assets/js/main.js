// The dashboard's entry point: registers the pages, wires sign-out and the end of a session,
// then starts the router.

import { onSessionEnd, signOut } from './api.js';
import { definePage, navigate, rememberDestination, SIGN_IN, start } from './router.js';
import { renderSignIn } from './pages/signin.js';
import { renderUsage } from './pages/usage.js';
import { renderAdmin } from './pages/admin.js';

definePage(SIGN_IN, { title: 'Sign in', render: renderSignIn });
definePage('/app/usage', { title: 'My usage', render: renderUsage });
definePage('/app/admin', { title: 'Admin', render: renderAdmin });

onSessionEnd((reason) => {
  if (reason === 'expired') {
    rememberDestination(window.location.pathname);
    navigate(SIGN_IN, { message: 'Your session has expired. Please sign in again.' });
  } else {
    navigate(SIGN_IN, { message: 'You have signed out.' });
  }
});

const signOutButton = document.getElementById('sign-out');
signOutButton.addEventListener('click', async () => {
  signOutButton.disabled = true;
  await signOut();
  signOutButton.disabled = false;
});

start();
