// Uploads in progress, per card: started from a card tile or the card dialog, shown by both.
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore, type DragEvent as ReactDragEvent } from "react";
import { checkFile, uploadAttachment } from "../api/attachments";
import { newId } from "../api/http";
import type { BoardActions } from "../boards/useBoard";
import { useToast } from "../ui/toast";

export interface Upload {
  id: string;
  cardId: string;
  filename: string;
  /** 0–100, whole percent (progress events come far more often than that changes). */
  percent: number;
}

const NONE: Upload[] = [];

/** The uploads running in this tab; each card's array is replaced only when that card's uploads change. */
export class UploadStore {
  private byCard = new Map<string, Upload[]>();
  private listeners = new Set<() => void>();

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  forCard(cardId: string): Upload[] {
    return this.byCard.get(cardId) ?? NONE;
  }

  add(cardId: string, filename: string): string {
    const id = newId();
    this.set(cardId, [...this.forCard(cardId), { id, cardId, filename, percent: 0 }]);
    return id;
  }

  progress(cardId: string, id: string, loaded: number, total: number): void {
    const percent = total > 0 ? Math.min(100, Math.floor((loaded / total) * 100)) : 0;
    const items = this.forCard(cardId);
    if (!items.some((u) => u.id === id && u.percent !== percent)) return;
    this.set(cardId, items.map((u) => (u.id === id ? { ...u, percent } : u)));
  }

  done(cardId: string, id: string): void {
    this.set(cardId, this.forCard(cardId).filter((u) => u.id !== id));
  }

  private set(cardId: string, items: Upload[]): void {
    if (items.length) this.byCard.set(cardId, items);
    else this.byCard.delete(cardId);
    for (const listener of this.listeners) listener();
  }
}

export const uploads = new UploadStore();

/** The uploads running for one card (re-renders only when those change). */
export function useCardUploads(cardId: string): Upload[] {
  return useSyncExternalStore(uploads.subscribe, () => uploads.forCard(cardId));
}

/** The files a drag carries, if it carries files (text or a card being dragged does not count). */
export function draggedFiles(e: { dataTransfer: DataTransfer | null }): boolean {
  return !!e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files");
}

/** Upload files to a card one after another; too large or empty files are refused here, with a message. */
export function useUploader(actions: BoardActions): (cardId: string, files: File[]) => Promise<void> {
  const toast = useToast();
  return useCallback(
    async (cardId, files) => {
      for (const file of files) {
        const refused = checkFile(file);
        if (refused) {
          toast.error(refused);
          continue;
        }
        const id = uploads.add(cardId, file.name);
        try {
          const attachment = await uploadAttachment(cardId, file, {
            onProgress: (loaded, total) => uploads.progress(cardId, id, loaded, total),
          });
          actions.attachmentAdded(attachment);
          toast.info(`Attached “${attachment.filename}”`);
        } catch (err) {
          toast.error((err as Error).message);
        } finally {
          uploads.done(cardId, id);
        }
      }
    },
    [actions, toast],
  );
}

/** While a board is open, files dropped outside a drop zone do nothing (the browser would open them in place of the app). */
export function useIgnoreStrayDrops(): void {
  useEffect(() => {
    const over = (e: DragEvent) => {
      if (e.defaultPrevented || !draggedFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "none";
    };
    const drop = (e: DragEvent) => draggedFiles(e) && e.preventDefault();
    window.addEventListener("dragover", over);
    window.addEventListener("drop", drop);
    return () => {
      window.removeEventListener("dragover", over);
      window.removeEventListener("drop", drop);
    };
  }, []);
}

/**
 * A drop zone for files: `dropping` while files are dragged over it (to highlight it), `onFiles` on a drop.
 * Without `onFiles` (the user may not edit) it is no zone at all.
 */
export function useFileDrop(onFiles: ((files: File[]) => void) | undefined) {
  const [dropping, setDropping] = useState(false);
  const depth = useRef(0); // enter/leave pairs of the zone's children
  const handlers = useMemo(() => {
    if (!onFiles) return {};
    const accept = (e: ReactDragEvent) => {
      if (!draggedFiles(e)) return false;
      e.preventDefault();
      e.stopPropagation();
      e.dataTransfer.dropEffect = "copy";
      return true;
    };
    return {
      onDragEnter: (e: ReactDragEvent) => {
        if (!accept(e)) return;
        depth.current += 1;
        setDropping(true);
      },
      onDragOver: (e: ReactDragEvent) => void accept(e),
      onDragLeave: (e: ReactDragEvent) => {
        if (!draggedFiles(e)) return;
        e.stopPropagation();
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setDropping(false);
      },
      onDrop: (e: ReactDragEvent) => {
        if (!accept(e)) return;
        depth.current = 0;
        setDropping(false);
        const files = Array.from(e.dataTransfer.files);
        if (files.length) onFiles(files);
      },
    };
  }, [onFiles]);
  return { dropping: dropping && !!onFiles, handlers };
}
