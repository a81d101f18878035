import { describe, expect, it } from 'vitest';
import { isFinal, judgeTransition } from '../src/domain/status.js';

describe('status transitions', () => {
  it('moves livestreams forward only', () => {
    expect(judgeTransition('livestream', 'STARTING', 'LIVE')).toBe('apply');
    expect(judgeTransition('livestream', 'STARTING', 'STOPPED')).toBe('apply');
    expect(judgeTransition('livestream', 'LIVE', 'STOPPING')).toBe('apply');
    expect(judgeTransition('livestream', 'LIVE', 'STARTING')).toBe('refuse');
    expect(judgeTransition('livestream', 'STOPPING', 'LIVE')).toBe('refuse');
    expect(judgeTransition('livestream', 'LIVE', 'LIVE')).toBe('same');
  });

  it('keeps final states final', () => {
    for (const final of ['STOPPED', 'FAILED']) {
      expect(isFinal('livestream', final)).toBe(true);
      for (const next of ['STARTING', 'LIVE', 'STOPPING', 'STOPPED', 'FAILED'].filter((s) => s !== final)) {
        expect(judgeTransition('livestream', final, next)).toBe('refuse');
      }
    }
    for (const final of ['COMPLETED', 'FAILED']) {
      expect(isFinal('recording', final)).toBe(true);
      expect(judgeTransition('recording', final, 'RECORDING')).toBe('refuse');
    }
  });

  it('lets recordings go back and forth between RECORDING and PAUSED only', () => {
    expect(judgeTransition('recording', 'RECORDING', 'PAUSED')).toBe('apply');
    expect(judgeTransition('recording', 'PAUSED', 'RECORDING')).toBe('apply');
    expect(judgeTransition('recording', 'PAUSED', 'STARTING')).toBe('refuse');
    expect(judgeTransition('recording', 'UPLOADING', 'STOPPING')).toBe('refuse');
    expect(judgeTransition('recording', 'STOPPING', 'UPLOADING')).toBe('apply');
    expect(judgeTransition('recording', 'UPLOADING', 'COMPLETED')).toBe('apply');
  });

  it('reaches FAILED from any state that is not final', () => {
    for (const from of ['STARTING', 'LIVE', 'STOPPING'])
      expect(judgeTransition('livestream', from, 'FAILED')).toBe('apply');
    for (const from of ['STARTING', 'RECORDING', 'PAUSED', 'STOPPING', 'UPLOADING']) {
      expect(judgeTransition('recording', from, 'FAILED')).toBe('apply');
    }
  });

  it('refuses a status that does not belong to the kind', () => {
    expect(judgeTransition('livestream', 'LIVE', 'UPLOADING')).toBe('refuse');
    expect(judgeTransition('recording', 'RECORDING', 'LIVE')).toBe('refuse');
  });
});
