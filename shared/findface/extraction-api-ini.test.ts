import { describe, expect, it } from 'vitest';
import { checkDetectorFile, parseExtractionApiConfig, setExtractionModel, setFaceDetector } from './extraction-api-ini.js';

const FILE = '/etc/findface-extraction-api.ini';
const INI = [
  '# findface-extraction-api',
  'listen: 127.0.0.1:18666',
  'extractors:',
  '  instances: 2',
  '  models_root: /usr/share/findface-data/models',
  '  models:',
  '    face: face/mango_512.cpu.fnk # the face model',
  '    body: ""',
  'detectors:',
  '  models:',
  '    face_jasmine:',
  '      aliases: [face, nnd]',
  '      model: detector/face.jasmine_fast.004.cpu.fnk',
  '    body_b:',
  '      model: detector/body.b.cpu.fnk',
  '',
].join('\n');

describe('findface-extraction-api.ini', () => {
  it('reads the face model and the face detector (the entry aliased face)', () => {
    const c = parseExtractionApiConfig(INI, FILE);
    expect(c.models.face?.file).toBe('face/mango_512.cpu.fnk');
    expect(c.models.body).toBeUndefined();
    expect(c.faceDetector).toBe('detector/face.jasmine_fast.004.cpu.fnk');
    expect(parseExtractionApiConfig(INI.replace(/detectors:[\s\S]*/, ''), FILE).faceDetector).toBeUndefined();
    expect(parseExtractionApiConfig(`${INI.replace(/detectors:[\s\S]*/, '')}detectors:\n  models:\n    face: detector/x.fnk\n`, FILE).faceDetector).toBe('detector/x.fnk');
  });

  it('sets the face detector and the face model in place, every other line kept', () => {
    const text = setFaceDetector(setExtractionModel(INI, 'face', 'face/ifruit_512.cpu.fnk', FILE), 'detector/face.jasmine_fast.005.cpu.fnk', FILE);
    const c = parseExtractionApiConfig(text, FILE);
    expect(c.models.face?.file).toBe('face/ifruit_512.cpu.fnk');
    expect(c.faceDetector).toBe('detector/face.jasmine_fast.005.cpu.fnk');
    const changed = text.split('\n').filter((l, i) => l !== INI.split('\n')[i]);
    expect(changed).toEqual(['    face: face/ifruit_512.cpu.fnk # the face model', '      model: detector/face.jasmine_fast.005.cpu.fnk']);
    // No face detector configured: one is added.
    const added = setFaceDetector(INI.replace(/detectors:[\s\S]*/, ''), 'detector/d.cpu.fnk', FILE);
    expect(parseExtractionApiConfig(added, FILE).faceDetector).toBe('detector/d.cpu.fnk');
  });

  it('refuses a detector file that is no path under models_root', () => {
    for (const bad of ['../etc/passwd.fnk', '/abs/d.fnk', 'detector/d.txt', 'detector/../d.fnk', '']) expect(() => checkDetectorFile(bad), bad).toThrow('is no detector model file');
    expect(checkDetectorFile('detector/face.jasmine_fast.004.cpu.fnk')).toBe('detector/face.jasmine_fast.004.cpu.fnk');
  });
});
