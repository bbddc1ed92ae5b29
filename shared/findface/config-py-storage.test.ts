import { describe, expect, it } from 'vitest';
import { readSecurityStorageSettings } from './config-py.js';

describe("config.py: where findface-security keeps its data", () => {
  it.each([
    {
      name: "FindFace's layout: MEDIA_ROOT and DATABASES['default'] (nested dicts and comments ignored)",
      text: [
        'MEDIA_ROOT = "/var/lib/ffsecurity/uploads"',
        'DATABASES = {',
        "    'default': {",
        "        'ENGINE': 'django.db.backends.postgresql',",
        "        # 'NAME': 'commented-out',",
        "        'NAME': 'ffsecurity',  # the main DB",
        "        'HOST': '127.0.0.1',",
        "        'PORT': '5439',",
        "        'USER': 'ntech',",
        "        'PASSWORD': 'secret}{',",
        "        'OPTIONS': {'USER': 'not-this'},",
        '    },',
        "    'other': {'NAME': 'not-this-either'},",
        '}',
      ].join('\n'),
      want: { mediaRoot: '/var/lib/ffsecurity/uploads', database: { name: 'ffsecurity', host: '127.0.0.1', port: 5439, user: 'ntech', passwordSet: true } },
    },
    { name: 'neither setting', text: "DEBUG = False\nSECRET_KEY = 'x'\n", want: { mediaRoot: undefined, database: undefined } },
    { name: 'a default without settings', text: "DATABASES = {'default': {}}\n", want: { mediaRoot: undefined, database: { passwordSet: false } } },
  ])('$name', ({ text, want }) => {
    expect(readSecurityStorageSettings(text)).toEqual(want);
  });
});
